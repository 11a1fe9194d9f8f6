//! `veil-train` as a user runs it: a small real training run end to end, and every mistake a
//! user can make answered by a message that names the problem, a failing exit code and an
//! untouched previous run.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use image::RgbaImage;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn veil_train(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veil-train"))
        .args(args)
        .output()
        .expect("veil-train runs")
}

/// The repository root: recipes name their data and weights relative to it.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A fresh folder under the target directory, removed first if a previous run left it.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn stripes(vertical: bool, phase: u32) -> RgbaImage {
    RgbaImage::from_fn(48, 40, |x, y| {
        let along = if vertical { x } else { y };
        let on = ((along + phase) / 4).is_multiple_of(2);
        image::Rgba(if on {
            [220, 60, 30, 255]
        } else {
            [30, 40, 110, 255]
        })
    })
}

/// A 48×40 picture of random coloured 8-pixel blocks: every seed looks different to a
/// perceptual hash, unlike stripes, which are all shifts of one another.
fn blocks(seed: u64) -> RgbaImage {
    let mut rng = StdRng::seed_from_u64(seed);
    let colours: Vec<[u8; 4]> = (0..30)
        .map(|_| [rng.random(), rng.random(), rng.random(), 255])
        .collect();
    RgbaImage::from_fn(48, 40, |x, y| {
        image::Rgba(colours[(y / 8 * 6 + x / 8) as usize])
    })
}

/// `split/class/*.png` of distinct random blocks: for runs where only the pipeline matters.
fn write_distinct_dataset(root: &Path, per_class: u64) {
    for (s, split) in ["train", "valid", "test"].into_iter().enumerate() {
        for (c, class) in ["vertical", "horizontal"].into_iter().enumerate() {
            let folder = root.join(split).join(class);
            fs::create_dir_all(&folder).unwrap();
            for i in 0..per_class {
                blocks(((s * 2 + c) as u64) * 1000 + i)
                    .save(folder.join(format!("{i}.png")))
                    .unwrap();
            }
        }
    }
}

/// `split/class/*.png`: vertical stripes are the class to hide, horizontal ones the rest.
fn write_dataset(root: &Path, per_class: u32) {
    for split in ["train", "valid", "test"] {
        for (class, vertical) in [("vertical", true), ("horizontal", false)] {
            let folder = root.join(split).join(class);
            fs::create_dir_all(&folder).unwrap();
            for i in 0..per_class {
                stripes(vertical, i * 3 + u32::from(split == "valid"))
                    .save(folder.join(format!("{i}.png")))
                    .unwrap();
            }
        }
    }
}

fn arg(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn trains_a_pack_that_predicts_and_skips_unreadable_files() {
    let dir = scratch("end-to-end");
    let data = dir.join("data");
    write_dataset(&data, 12);
    fs::write(data.join("train/vertical/broken.png"), b"not a png").unwrap();
    let out = dir.join("run");
    let result = veil_train(&[
        "train",
        "--data",
        &arg(&data),
        "--out",
        &arg(&out),
        "--flag",
        "vertical",
        "--epochs",
        "12",
        "--input-size",
        "32",
        "--dense",
        "16",
        "--batch-size",
        "8",
        "--keyword",
        "stripes",
    ]);
    let log = stderr(&result);
    assert!(result.status.success(), "{log}");
    assert!(
        log.contains("skipped") && log.contains("broken.png"),
        "the broken file is listed: {log}"
    );
    for file in ["filter.veilpack", "log.csv", "test-predictions.json"] {
        assert!(out.join(file).is_file(), "{file} written");
    }
    // The report names the test-split numbers and shows four real plots.
    let report = fs::read_to_string(out.join("report.html")).unwrap();
    for needle in [
        "ROC AUC",
        "balanced",
        "Confusion matrix",
        "most confident mistakes",
        "broken.png",
    ] {
        assert!(report.contains(needle), "report lacks {needle:?}");
    }
    let filters = image::open(out.join("filters.png")).unwrap().to_rgb8();
    // 16 first-layer 3×3 filters, 8 to a row, at 16× with 2-pixel gaps: 8 × 50 + 2 by 2 × 50 + 2.
    assert_eq!(filters.dimensions(), (402, 102));
    let colours: std::collections::HashSet<_> = filters.pixels().map(|p| p.0).collect();
    assert!(
        colours.len() > 50,
        "filters are drawn: {} colours",
        colours.len()
    );
    for plot in ["loss.png", "accuracy.png", "roc.png", "thresholds.png"] {
        assert!(report.contains(&format!("src=\"{plot}\"")), "{plot} linked");
        let image = image::open(out.join(plot)).unwrap();
        assert_eq!((image.width(), image.height()), (640, 400), "{plot}");
        // Not a blank canvas: axes, text and curves are drawn.
        let dark = image.to_luma8().pixels().filter(|p| p.0[0] < 128).count();
        assert!(dark > 1000, "{plot} has only {dark} dark pixels");
    }
    let log_csv = fs::read_to_string(out.join("log.csv")).unwrap();
    assert_eq!(
        log_csv.lines().count(),
        13,
        "a header and 12 epochs: {log_csv}"
    );

    // The pack judges unseen stripes correctly (the task is easy; a broken pipeline is not).
    let unseen = dir.join("unseen");
    fs::create_dir_all(&unseen).unwrap();
    let (vertical, horizontal) = (unseen.join("v.png"), unseen.join("h.png"));
    stripes(true, 1).save(&vertical).unwrap();
    stripes(false, 2).save(&horizontal).unwrap();
    let predicted = veil_train(&[
        "predict",
        "--pack",
        &arg(&out.join("filter.veilpack")),
        &arg(&vertical),
        &arg(&horizontal),
    ]);
    assert!(predicted.status.success(), "{}", stderr(&predicted));
    let stdout = String::from_utf8_lossy(&predicted.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].contains("v.png: vertical, flagged"), "{stdout}");
    assert!(lines[1].contains("h.png: horizontal ("), "{stdout}");

    // --top 1 shows the winning label's score only; an unreadable image among good ones is
    // named and the others are still judged, but the exit code says something failed.
    let broken = unseen.join("broken.jpg");
    fs::write(&broken, b"\xff\xd8 not really a jpeg").unwrap();
    let predicted = veil_train(&[
        "predict",
        "--top",
        "1",
        "--pack",
        &arg(&out.join("filter.veilpack")),
        &arg(&broken),
        &arg(&vertical),
    ]);
    assert!(!predicted.status.success());
    assert!(
        stderr(&predicted).contains("broken.jpg: cannot read it"),
        "{}",
        stderr(&predicted)
    );
    let stdout = String::from_utf8_lossy(&predicted.stdout);
    assert!(
        stdout.contains("v.png: vertical, flagged (vertical 0."),
        "{stdout}"
    );
    assert!(
        !stdout.contains("horizontal"),
        "only the top label: {stdout}"
    );

    // eval measures the pack on the test split; the trainer stored the same numbers in it.
    let evaluated = veil_train(&[
        "eval",
        "--pack",
        &arg(&out.join("filter.veilpack")),
        "--data",
        &arg(&data),
        "--json",
    ]);
    assert!(evaluated.status.success(), "{}", stderr(&evaluated));
    let quality: serde_json::Value = serde_json::from_slice(&evaluated.stdout).unwrap();
    assert_eq!(quality["images"], 24);
    assert_eq!(quality["flagged_images"], 12);
    assert!(quality["auc"].as_f64().unwrap() > 0.9, "{quality}");
    let pack =
        veil_core::FilterPack::from_bytes(&fs::read(out.join("filter.veilpack")).unwrap()).unwrap();

    // export writes safetensors: an 8-byte header length, a JSON header naming every tensor
    // with its shape, the pack's metadata under veil.metadata, then the data.
    let exported = dir.join("weights.safetensors");
    let export = || {
        veil_train(&[
            "export",
            "--pack",
            &arg(&out.join("filter.veilpack")),
            "--out",
            &arg(&exported),
        ])
    };
    let result = export();
    assert!(result.status.success(), "{}", stderr(&result));
    let bytes = fs::read(&exported).unwrap();
    let header_length = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_length]).unwrap();
    assert_eq!(
        header["blocks.0.conv.weight"]["shape"],
        serde_json::json!([16, 3, 3, 3])
    );
    assert_eq!(header["output.weight"]["dtype"], "F32");
    let metadata: veil_core::PackMetadata =
        serde_json::from_str(header["__metadata__"]["veil.metadata"].as_str().unwrap()).unwrap();
    assert_eq!(metadata, pack.metadata);
    let refused = export();
    assert!(
        !refused.status.success(),
        "an existing file is not replaced without --overwrite"
    );

    let measured: veil_core::quality::Quality = serde_json::from_value(quality).unwrap();
    assert_eq!(
        pack.metadata.quality.unwrap(),
        measured,
        "the pack's own quality is its test split's"
    );
}

/// Runs `veil-train train` on input that must be refused; returns its error message.
fn refused_training(data: &Path, out: &Path, flag: &str) -> String {
    let result = veil_train(&[
        "train",
        "--data",
        &arg(data),
        "--out",
        &arg(out),
        "--flag",
        flag,
    ]);
    assert!(!result.status.success(), "veil-train accepted bad input");
    stderr(&result)
}

#[test]
fn an_empty_dataset_folder_says_what_a_dataset_looks_like() {
    let dir = scratch("empty");
    let message = refused_training(&dir, &dir.join("run"), "x");
    assert!(message.contains("train/<class>/"), "{message}");
    assert!(!dir.join("run").exists(), "nothing is written");
}

#[test]
fn one_class_only_is_refused() {
    let dir = scratch("one-class");
    fs::create_dir_all(dir.join("train/show")).unwrap();
    let message = refused_training(&dir, &dir.join("run"), "show");
    assert!(message.contains("needs at least two"), "{message}");
}

#[test]
fn an_unknown_flag_class_lists_the_real_ones() {
    let dir = scratch("unknown-flag");
    write_dataset(&dir.join("data"), 1);
    let message = refused_training(&dir.join("data"), &dir.join("run"), "diagonal");
    assert!(
        message.contains("\"diagonal\"")
            && message.contains("horizontal")
            && message.contains("vertical"),
        "{message}"
    );
}

#[test]
fn a_previous_run_is_never_overwritten_without_asking() {
    let dir = scratch("no-overwrite");
    write_dataset(&dir.join("data"), 1);
    let out = dir.join("run");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("filter.veilpack"), b"precious").unwrap();
    let message = refused_training(&dir.join("data"), &out, "vertical");
    assert!(message.contains("--overwrite"), "{message}");
    assert_eq!(fs::read(out.join("filter.veilpack")).unwrap(), b"precious");
}

#[test]
fn a_corrupt_pack_is_named_in_the_error() {
    let dir = scratch("corrupt-pack");
    let pack = dir.join("bad.veilpack");
    fs::write(&pack, b"VEILPACK but then nothing").unwrap();
    let image = dir.join("a.png");
    stripes(true, 0).save(&image).unwrap();
    let result = veil_train(&["predict", "--pack", &arg(&pack), &arg(&image)]);
    assert!(!result.status.success());
    let message = stderr(&result);
    assert!(
        message.contains("bad.veilpack") && message.contains("truncated"),
        "{message}"
    );
}

#[test]
fn a_recipe_file_trains_and_is_kept_in_the_run_folder() {
    let dir = scratch("recipe");
    let data = dir.join("data");
    write_dataset(&data, 8);
    let recipe = dir.join("recipe.toml");
    fs::write(
        &recipe,
        format!(
            "name = \"Stripes\"\ndata = {:?}\nflag = [\"vertical\"]\n\
             [model]\nkind = \"conv-stack\"\ninput_size = 32\ndense = 16\n\
             [training]\nepochs = 3\nbatch_size = 8\n\
             [optimizer]\nkind = \"sgd\"\nlearning_rate = 0.05\n\
             [schedule]\nkind = \"cosine\"\nmin_lr = 0.0001\n\
             [early_stopping]\npatience = 0\n",
            arg(&data)
        ),
    )
    .unwrap();
    let out = dir.join("run");
    let result = veil_train(&["train", "--config", &arg(&recipe), "--out", &arg(&out)]);
    assert!(result.status.success(), "{}", stderr(&result));
    let kept = fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(
        kept.contains("kind = \"sgd\"") && kept.contains("kind = \"cosine\""),
        "{kept}"
    );
    let log_csv = fs::read_to_string(out.join("log.csv")).unwrap();
    let rates: Vec<f64> = log_csv
        .lines()
        .skip(1)
        .map(|line| line.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(rates.len(), 3, "{log_csv}");
    assert!(
        rates[0] > rates[1] && rates[1] > rates[2],
        "cosine decay: {log_csv}"
    );
}

/// A recipe for the pretrained backbone at `input_size` 64 (it pools globally), `train_blocks`
/// of it unfrozen.
fn backbone_recipe(dir: &Path, data: &Path, pretrained: &Path, train_blocks: usize) -> PathBuf {
    let recipe = dir.join(format!("backbone-{train_blocks}.toml"));
    fs::write(
        &recipe,
        format!(
            "data = {:?}
flag = [\"vertical\"]
             [model]
kind = \"efficientnet-lite0\"
input_size = 64
pretrained = {:?}
             train_blocks = {train_blocks}
dropout = 0.2
             [training]
epochs = 6
batch_size = 8
[early_stopping]
patience = 0
",
            arg(data),
            arg(pretrained)
        ),
    )
    .unwrap();
    recipe
}

#[test]
fn a_frozen_pretrained_backbone_learns_a_new_task_from_cached_features() {
    let dir = scratch("transfer");
    let data = dir.join("data");
    write_dataset(&data, 8);
    let weights = workspace_root().join("target/veil/backbones/efficientnet-lite0.pth");
    assert!(
        weights.is_file(),
        "run `cargo xtask setup` first: it fetches {}",
        weights.display()
    );
    let recipe = backbone_recipe(&dir, &data, &weights, 0);
    let out = dir.join("run");
    let result = veil_train(&["train", "--config", &arg(&recipe), "--out", &arg(&out)]);
    assert!(result.status.success(), "{}", stderr(&result));
    // ImageNet features tell stripes' orientation apart at once: only the classifier learned.
    let log_csv = fs::read_to_string(out.join("log.csv")).unwrap();
    let last: Vec<&str> = log_csv.lines().last().unwrap().split(',').collect();
    let accuracy: f64 = last[4].parse().unwrap();
    assert!(
        accuracy >= 0.9,
        "validation accuracy after 6 epochs: {log_csv}"
    );
    let prediction = veil_train(&[
        "predict",
        "--pack",
        &arg(&out.join("filter.veilpack")),
        &arg(&data.join("test/vertical/0.png")),
    ]);
    assert!(prediction.status.success(), "{}", stderr(&prediction));
    assert!(String::from_utf8_lossy(&prediction.stdout).contains("vertical"));
}

#[test]
fn backbone_recipes_with_missing_weights_or_too_many_blocks_say_what_to_do() {
    let dir = scratch("transfer-errors");
    let data = dir.join("data");
    write_dataset(&data, 2);
    let out = dir.join("run");
    let cases = [
        (0, ["absent.pth", "cargo xtask setup"]),
        (17, ["train_blocks", "16 blocks"]),
    ];
    for (train_blocks, wanted) in cases {
        let recipe = backbone_recipe(&dir, &data, &dir.join("absent.pth"), train_blocks);
        let result = veil_train(&["train", "--config", &arg(&recipe), "--out", &arg(&out)]);
        assert!(!result.status.success());
        let message = stderr(&result);
        assert!(wanted.iter().all(|w| message.contains(w)), "{message}");
        assert!(!out.exists(), "nothing is written");
    }
}

#[test]
fn a_typo_in_a_recipe_is_named_and_nothing_is_written() {
    let dir = scratch("recipe-typo");
    let recipe = dir.join("typo.toml");
    fs::write(&recipe, "flag = [\"x\"]\n[optimizer]\nlearnig_rate = 0.1\n").unwrap();
    let out = dir.join("run");
    let result = veil_train(&[
        "train",
        "--config",
        &arg(&recipe),
        "--out",
        &arg(&out),
        "--data",
        "d",
    ]);
    assert!(!result.status.success());
    let message = stderr(&result);
    assert!(
        message.contains("typo.toml") && message.contains("learnig_rate"),
        "{message}"
    );
    assert!(!out.exists(), "nothing is written");
}

#[test]
fn a_run_killed_mid_epoch_resumes_and_ends_as_if_never_killed() {
    let dir = scratch("resume");
    let data = dir.join("data");
    write_dataset(&data, 16);
    let recipe = dir.join("recipe.toml");
    fs::write(
        &recipe,
        format!(
            "data = {:?}\nflag = [\"vertical\"]\n[model]\nkind = \"conv-stack\"\ninput_size = 48\ndense = 32\n\
             [training]\nepochs = 20\nbatch_size = 4\n[early_stopping]\npatience = 0\n",
            arg(&data)
        ),
    )
    .unwrap();
    let train = |out: &Path| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_veil-train"));
        command.args(["train", "--config", &arg(&recipe), "--out", &arg(out)]);
        command
    };

    let reference = dir.join("reference");
    let uninterrupted = train(&reference).output().unwrap();
    assert!(uninterrupted.status.success(), "{}", stderr(&uninterrupted));

    let out = dir.join("run");
    let mut child = train(&out)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let latest = dir.join("run.checkpoint").join("latest");
    loop {
        let done = fs::read_to_string(&latest).unwrap_or_default();
        if done.as_str() >= "epoch-00003" {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    assert!(!out.exists(), "a killed run leaves no run folder");

    // One training picture changed: the checkpoint learnt from other images, so it is refused
    // (and kept) rather than resumed.
    let picture = data.join("train/vertical/0.png");
    let original = fs::read(&picture).unwrap();
    fs::copy(data.join("train/vertical/1.png"), &picture).unwrap();
    let refused = train(&out).output().unwrap();
    let message = stderr(&refused);
    assert!(!refused.status.success(), "{message}");
    assert!(
        message.contains("other images") && message.contains("--restart"),
        "{message}"
    );
    assert!(latest.exists(), "the refused checkpoint is kept");
    fs::write(&picture, original).unwrap();

    let resumed = train(&out).output().unwrap();
    let message = stderr(&resumed);
    assert!(resumed.status.success(), "{message}");
    assert!(message.contains("resuming after epoch"), "{message}");
    let log_csv = fs::read_to_string(out.join("log.csv")).unwrap();
    let epochs: Vec<&str> = log_csv
        .lines()
        .skip(1)
        .map(|line| line.split(',').next().unwrap())
        .collect();
    let expected: Vec<String> = (1..=20).map(|epoch| epoch.to_string()).collect();
    assert_eq!(epochs, expected, "every epoch once: {log_csv}");
    // Same seeds per epoch, same optimizer state: the very same pack as the run never killed.
    assert_eq!(
        fs::read(out.join("log.csv")).unwrap(),
        fs::read(reference.join("log.csv")).unwrap()
    );
    assert!(
        fs::read(out.join("filter.veilpack")).unwrap()
            == fs::read(reference.join("filter.veilpack")).unwrap(),
        "the resumed run's pack is byte for byte the uninterrupted run's"
    );
    assert!(
        !dir.join("run.checkpoint").exists(),
        "a finished run clears its checkpoints"
    );
}

#[test]
fn every_shipped_recipe_trains_an_epoch_on_sample_data() {
    let dir = scratch("recipes");
    let data = dir.join("data");
    // Distinct pictures: the S2 recipe drops near-duplicates.
    write_distinct_dataset(&data, 6);
    // Where each picture came from, a source per split folder: the default recipe holds whole
    // sources out, and needs three of each class.
    let mut manifest = String::from("file\tsource\tmedium\n");
    for split in ["train", "valid", "test"] {
        for class in ["vertical", "horizontal"] {
            for i in 0..6 {
                manifest.push_str(&format!(
                    "{split}/{class}/{i}.png\t{class}-{split}\tstripes\n"
                ));
            }
        }
    }
    fs::write(data.join("manifest.tsv"), manifest).unwrap();
    let recipes = Path::new(env!("CARGO_MANIFEST_DIR")).join("../recipes");
    let mut trained = 0;
    for entry in fs::read_dir(&recipes).unwrap() {
        let recipe = entry.unwrap().path();
        let name = recipe.file_stem().unwrap().to_string_lossy().into_owned();
        let out = dir.join(&name);
        // The recipe as shipped (network, input size, optimizer, augmentation, pretrained
        // weights), for one epoch, run from the root as its comments say.
        let result = Command::new(env!("CARGO_BIN_EXE_veil-train"))
            .current_dir(workspace_root())
            .args([
                "train",
                "--config",
                &arg(&recipe),
                "--data",
                &arg(&data),
                "--flag",
                "vertical",
                "--epochs",
                "1",
                "--out",
                &arg(&out),
            ])
            .output()
            .unwrap();
        assert!(result.status.success(), "{name}: {}", stderr(&result));
        assert!(
            out.join("filter.veilpack").is_file(),
            "{name}: pack written"
        );
        trained += 1;
    }
    assert!(trained >= 4, "recipes/ holds the seed recipes: {trained}");
}

#[test]
fn a_folder_of_class_folders_is_split_here_and_near_duplicates_are_dropped() {
    let dir = scratch("flat");
    let data = dir.join("data");
    for (c, class) in ["vertical", "horizontal"].into_iter().enumerate() {
        fs::create_dir_all(data.join(class)).unwrap();
        for i in 0..10 {
            blocks(c as u64 * 100 + i)
                .save(data.join(class).join(format!("{i}.png")))
                .unwrap();
        }
        // Two re-saved copies per class: the same picture under another name, as JPEG.
        for i in 0..2 {
            image::DynamicImage::ImageRgba8(blocks(c as u64 * 100 + i))
                .to_rgb8()
                .save(data.join(class).join(format!("copy-{i}.jpg")))
                .unwrap();
        }
    }
    let recipe = dir.join("recipe.toml");
    fs::write(
        &recipe,
        "flag = [\"vertical\"]\n[dataset]\nsplit = [0.6, 0.2, 0.2]\ndedup_distance = 2\n\
         [model]\nkind = \"conv-stack\"\ninput_size = 32\ndense = 16\n[training]\nepochs = 2\nbatch_size = 4\n",
    )
    .unwrap();
    let out = dir.join("run");
    let result = veil_train(&[
        "train",
        "--config",
        &arg(&recipe),
        "--data",
        &arg(&data),
        "--out",
        &arg(&out),
    ]);
    let log = stderr(&result);
    assert!(result.status.success(), "{log}");
    assert!(log.contains("has no train/ folder"), "{log}");
    // Each copy or its original is dropped, never both.
    for class in ["vertical", "horizontal"] {
        for i in 0..2 {
            let copy = format!("{class}/copy-{i}.jpg");
            let original = format!("{class}/{i}.png");
            let dropped = |name: &str| {
                log.lines().any(|line| {
                    line.starts_with("  ") && line.split(" (like ").next().unwrap().ends_with(name)
                })
            };
            assert!(
                dropped(&copy) != dropped(&original),
                "{copy} vs {original}: {log}"
            );
        }
    }
    assert_eq!(
        log.lines().filter(|line| line.contains(" (like ")).count(),
        4,
        "only the copies are near-duplicates: {log}"
    );
    // Split 60/20/20 before de-duplication, so the 20 distinct pictures are spread over all three.
    let counts: Vec<usize> = ["train", "valid", "test"]
        .iter()
        .map(|split| {
            let line = log
                .lines()
                .find(|l| l.starts_with(&format!("{split}: ")))
                .unwrap();
            line.split_whitespace().nth(1).unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 20, "{log}");
    assert!(
        counts[0] >= 12 && counts[1] >= 3 && counts[2] >= 2,
        "{counts:?}"
    );
}

#[test]
fn bench_times_the_recipes_network_and_reports_what_it_timed() {
    let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("../recipes/s0-benchmark.toml");
    let result = veil_train(&[
        "bench",
        "--config",
        &arg(&recipe),
        "--batch-size",
        "2",
        "--steps",
        "2",
        "--warmup",
        "0",
        "--json",
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    let measured: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
    assert_eq!(measured["backend"], "cpu");
    assert_eq!(measured["batch_size"], 2);
    assert_eq!(measured["input_size"], 224);
    // The recipe's network, as the PyTorch peer will rebuild it.
    let conv = measured["architecture"]["conv"].as_array().unwrap();
    let channels: Vec<u64> = conv
        .iter()
        .map(|layer| layer["channels"].as_u64().unwrap())
        .collect();
    assert_eq!(channels, [16, 32, 64, 128, 256]);
    assert!(
        conv.iter()
            .all(|layer| layer["kernel"] == 3 && layer["stride"] == 2)
    );
    assert_eq!(
        measured["architecture"]["hidden"],
        serde_json::json!([1000])
    );
    assert_eq!(measured["optimizer"]["kind"], "adam");
    let rate = measured["images_per_second"].as_f64().unwrap();
    let seconds = measured["seconds"].as_f64().unwrap();
    assert!(
        seconds > 0.0 && (rate * seconds - 4.0).abs() < 1e-6,
        "2 steps of 2 images: {rate} images/s over {seconds} s"
    );
}

#[test]
fn a_gpu_backend_missing_from_this_build_is_a_message_not_a_panic() {
    if cfg!(feature = "cuda") {
        return;
    }
    let result = veil_train(&["bench", "--backend", "cuda"]);
    assert_eq!(result.status.code(), Some(1));
    let message = stderr(&result);
    assert!(
        message.contains("built without the `cuda` feature") && message.contains("--backend cpu"),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");
}

#[test]
fn a_concept_pack_flags_the_imagenet_classes_it_names_without_training() {
    let dir = scratch("concept");
    let samples = workspace_root().join("target/veil/backbones/samples");
    assert!(
        samples.is_dir(),
        "run `cargo xtask setup` first: it fetches {}",
        samples.display()
    );
    // Debian's darknet photos: the giraffe photo's zebras are the concept, the rest are not.
    let data = dir.join("data");
    let layout = [
        ("valid", "zebra", "giraffe"),
        ("valid", "other", "dog"),
        ("valid", "other", "eagle"),
        ("test", "zebra", "giraffe"),
        ("test", "other", "horses"),
        ("test", "other", "kite"),
        ("test", "other", "person"),
    ];
    for class in ["zebra", "other"] {
        fs::create_dir_all(data.join("train").join(class)).unwrap();
    }
    for (split, class, photo) in layout {
        let folder = data.join(split).join(class);
        fs::create_dir_all(&folder).unwrap();
        fs::copy(
            samples.join(format!("{photo}.png")),
            folder.join(format!("{photo}.png")),
        )
        .unwrap();
    }
    let out = dir.join("zebra.veilpack");
    let concept = |classes: &str| {
        Command::new(env!("CARGO_BIN_EXE_veil-train"))
            .current_dir(workspace_root())
            .args(["concept", "--name", "Stripes", "--classes", classes])
            .args([
                "--data",
                &arg(&data),
                "--flag",
                "zebra",
                "--out",
                &arg(&out),
            ])
            .output()
            .unwrap()
    };
    let unknown = concept("zebra,unicorn");
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("\"unicorn\""),
        "{}",
        stderr(&unknown)
    );
    assert!(!out.exists(), "nothing is written");

    let result = concept("Zebra");
    assert!(result.status.success(), "{}", stderr(&result));
    assert!(
        stderr(&result).contains("ROC AUC 1.000"),
        "{}",
        stderr(&result)
    );
    let pack = veil_core::FilterPack::from_bytes(&fs::read(&out).unwrap()).unwrap();
    assert_eq!(pack.metadata.labels.len(), 1000);
    assert_eq!(pack.metadata.flagged_labels, ["zebra"]);
    assert!(pack.to_bytes().len() < 10_000_000, "f16: under 10 MB");
    let verdicts = veil_train(&[
        "predict",
        "--json",
        "--pack",
        &arg(&out),
        &arg(&samples.join("giraffe.png")),
        &arg(&samples.join("dog.png")),
    ]);
    assert!(verdicts.status.success(), "{}", stderr(&verdicts));
    let flagged: Vec<bool> = String::from_utf8_lossy(&verdicts.stdout)
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["verdict"]["flagged"]
                .as_bool()
                .unwrap()
        })
        .collect();
    assert_eq!(flagged, [true, false], "zebras flagged, the dog not");
    // `eval` measures it on data whose classes are not ImageNet's when told which to catch.
    let eval = |class: &str| {
        veil_train(&[
            "eval",
            "--pack",
            &arg(&out),
            "--data",
            &arg(&data),
            "--flag",
            class,
        ])
    };
    let measured = eval("zebra");
    assert!(measured.status.success(), "{}", stderr(&measured));
    assert!(
        String::from_utf8_lossy(&measured.stdout)
            .contains("test split: 4 images, 1 to flag; ROC AUC 1.000")
    );
    let wrong = eval("horse");
    assert!(
        !wrong.status.success() && stderr(&wrong).contains("\"horse\""),
        "{}",
        stderr(&wrong)
    );
}

/// A multi-label dataset (seed S1's layout): stripes that are vertical or not and green or
/// not, in every combination, listed in `labels.csv` with one 0/1 column per label.
fn write_multi_label_dataset(root: &Path, per_combination: u32) -> PathBuf {
    let images = root.join("images");
    fs::create_dir_all(&images).unwrap();
    let mut csv = String::from("file,vertical,green\n");
    for (vertical, green) in [(false, false), (false, true), (true, false), (true, true)] {
        for i in 0..per_combination {
            let name = format!("v{}g{}-{i}.png", u8::from(vertical), u8::from(green));
            let mut picture = stripes(vertical, i * 3);
            if green {
                for pixel in picture.pixels_mut() {
                    pixel[1] = 200;
                }
            }
            picture.save(images.join(&name)).unwrap();
            csv.push_str(&format!(
                "images/{name},{},{}\n",
                u8::from(vertical),
                u8::from(green)
            ));
        }
    }
    let labels = root.join("labels.csv");
    fs::write(&labels, csv).unwrap();
    labels
}

fn multi_label_recipe(dir: &Path, data: &Path, balance: &str) -> PathBuf {
    let recipe = dir.join(format!("multi-{balance}.toml"));
    fs::write(
        &recipe,
        format!(
            "data = {:?}\nflag = [\"vertical\"]\n[dataset]\nlabels = \"labels.csv\"\n\
             [model]\nkind = \"conv-stack\"\ninput_size = 32\ndense = 32\n\
             [training]\nepochs = 12\nbatch_size = 8\nbalance = \"{balance}\"\n\
             [early_stopping]\npatience = 0\n",
            arg(data)
        ),
    )
    .unwrap();
    recipe
}

#[test]
fn a_csv_of_labels_trains_a_multi_label_pack_measured_as_s1_measured_it() {
    let dir = scratch("multi-label");
    let data = dir.join("data");
    write_multi_label_dataset(&data, 10);
    let out = dir.join("run");
    let recipe = multi_label_recipe(&dir, &data, "weights");
    let result = veil_train(&["train", "--config", &arg(&recipe), "--out", &arg(&out)]);
    let log = stderr(&result);
    assert!(result.status.success(), "{log}");
    let hamming: f64 = log
        .split("Hamming loss ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no Hamming loss in {log}"))
        .parse()
        .unwrap();
    assert!(
        hamming <= 0.25,
        "orientation and colour are easy to see: {log}"
    );
    assert!(log.contains("top-class hit rate"), "{log}");
    let report = fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        report.contains("Hamming loss") && report.contains("<td>green</td>"),
        "per-label table"
    );
    let pack =
        veil_core::FilterPack::from_bytes(&fs::read(out.join("filter.veilpack")).unwrap()).unwrap();
    assert_eq!(pack.metadata.output, veil_core::Output::MultiLabel);
    // Sigmoid outputs: the two labels' probabilities are independent, not a distribution.
    let predicted = veil_train(&[
        "predict",
        "--json",
        "--pack",
        &arg(&out.join("filter.veilpack")),
        &arg(&data.join("images/v1g1-0.png")),
    ]);
    assert!(predicted.status.success(), "{}", stderr(&predicted));
    let verdict: serde_json::Value = serde_json::from_slice(&predicted.stdout).unwrap();
    let scores = &verdict["verdict"]["scores"];
    let sum = scores["vertical"].as_f64().unwrap() + scores["green"].as_f64().unwrap();
    assert!(sum > 1.2, "both labels present, both probable: {scores}");
}

#[test]
fn a_label_csv_naming_missing_files_or_asking_to_upsample_says_what_to_fix() {
    let dir = scratch("multi-label-errors");
    let data = dir.join("data");
    let labels = write_multi_label_dataset(&data, 2);
    let out = dir.join("run");
    let recipe = multi_label_recipe(&dir, &data, "upsample");
    let result = veil_train(&["train", "--config", &arg(&recipe), "--out", &arg(&out)]);
    assert!(!result.status.success());
    assert!(
        stderr(&result).contains("balance = \"weights\""),
        "{}",
        stderr(&result)
    );
    let mut csv = fs::read_to_string(&labels).unwrap();
    csv.push_str("images/gone.png,1,0\n");
    fs::write(&labels, csv).unwrap();
    let recipe = multi_label_recipe(&dir, &data, "none");
    let result = veil_train(&["train", "--config", &arg(&recipe), "--out", &arg(&out)]);
    assert!(!result.status.success());
    let message = stderr(&result);
    assert!(
        message.contains("labels.csv")
            && message.contains("images/gone.png")
            && message.contains("fix their paths"),
        "{message}"
    );
    assert!(!out.exists(), "nothing is written");
}
