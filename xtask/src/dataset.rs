//! The default dataset, assembled from Debian packages (no download at run time): fantasy art
//! (Battle for Wesnoth's portraits and story scenes, its campaigns', Flare's) against wallpaper
//! photos, abstract art and Tux Paint's cut-out everyday things. Deterministic: the same
//! packages give the same files, split and manifest.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use sha2::{Digest, Sha256};

use crate::backbone::{self, Pinned};
use crate::work_dir;

/// The class the default filter hides.
pub const TARGET_CLASS: &str = "fantasy";
pub const OTHER_CLASS: &str = "other";
/// Bump when the assembly rules change, so an old dataset is rebuilt.
const DATASET_VERSION: &str = "default-v6";
/// How many held-out images the browser parity test judges.
pub const PARITY_IMAGES: usize = 20;
/// Longest side of a stored negative crop; portraits are stored as shipped (≤ 500 px).
const MAX_SIDE: u32 = 512;
const JPEG_QUALITY: u8 = 90;
/// Crops taken from each wallpaper, as (x, y, width, height) fractions of the picture: the
/// whole picture and three views of parts of it. A wallpaper's crops always share a split.
const CROPS: [(f32, f32, f32, f32); 4] = [
    (0.0, 0.0, 1.0, 1.0),
    (0.0, 0.0, 0.6, 0.6),
    (0.4, 0.4, 0.6, 0.6),
    (0.2, 0.1, 0.6, 0.8),
];
/// The smallest side fraction in [`CROPS`] and [`INSIDE_THE_FRAME`].
const SMALLEST_CROP: f32 = 0.6;
/// What lies inside the gilt frame of FreeCol's founding-father portraits: a frame is a cue
/// that pictures in a feed do not share.
const INSIDE_THE_FRAME: (f32, f32, f32, f32) = (0.2, 0.17, 0.6, 0.65);

/// How a source's pictures are stored.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    /// Each file as shipped.
    AsShipped,
    /// Wallpapers come in several resolutions of one picture: one is kept per group, cropped
    /// four ways ([`CROPS`]).
    Wallpaper,
    /// A painting in a frame: only the painting ([`INSIDE_THE_FRAME`]).
    Framed,
}

struct Source {
    package: String,
    license: &'static str,
    class: &'static str,
    root: String,
    /// Which files below `root` (by their path relative to it) are taken.
    keep: fn(&Path) -> bool,
    layout: Layout,
    /// A package that is not installed (its dependencies are heavy) but downloaded and unpacked
    /// when the dataset is assembled; `root` is then inside the unpacked folder.
    deb: Option<&'static Pinned>,
    /// What kind of picture each group (see [`groups`]) is.
    medium: fn(&str) -> Medium,
}

/// How a picture was made, the manifest's `medium` column: the filter must judge what a picture
/// shows in every medium, so its quality is broken down by medium, and a medium one class
/// lacks is a shortcut the network will take. Chosen by eye, picture by picture.
#[derive(Clone, Copy)]
enum Medium {
    Photo,
    /// Photos at night or in the dark.
    NightPhoto,
    /// Paintings and figurative illustrations, by hand or digital.
    Painting,
    /// 3-D renders.
    Render,
    /// Abstract and geometric art.
    Abstract,
    /// Cartoons and pixel art.
    Cartoon,
    /// Screenshots and diagrams.
    Screenshot,
    /// One object cut out on a plain or transparent background.
    Cutout,
}

impl Medium {
    fn name(self) -> &'static str {
        match self {
            Medium::Photo => "photo",
            Medium::NightPhoto => "night photo",
            Medium::Painting => "painting",
            Medium::Render => "render",
            Medium::Abstract => "abstract",
            Medium::Cartoon => "cartoon",
            Medium::Screenshot => "screenshot",
            Medium::Cutout => "cut-out",
        }
    }
}

/// Plasma's wallpapers, by name: most are abstract art.
fn plasma_medium(group: &str) -> Medium {
    match group {
        "BytheWater" | "ColdRipple" | "EveningGlow" | "FallenLeaf" | "Grey" | "Kite"
        | "OneStandsOut" | "Path" | "Volna" | "summer_1am" => Medium::Photo,
        "DarkestHour" => Medium::NightPhoto,
        "ColorfulCups" => Medium::Render,
        "FlyingKonqui" => Medium::Cartoon,
        "Autumn" | "SafeLanding" => Medium::Painting,
        _ => Medium::Abstract,
    }
}

/// Debian source packages kept for an independent check of our filters: no image of theirs, nor
/// of any binary package built from them, may enter a dataset, test or benchmark.
const RESERVED: [&str; 27] = [
    "0ad-data",
    "castle-game-engine-doc",
    "debian-handbook",
    "desktop-base",
    "endless-sky-data",
    "freeorion-data",
    "gcompris-qt-data",
    "gimp-help-en",
    "imagemagick-6-doc",
    "jigzo-data",
    "ksirk",
    "lomiri-wallpapers",
    "lxqt-themes",
    "megaglest-data",
    "naev-data",
    "opencv-doc",
    "python3-matplotlib",
    "python3-skimage",
    "python3-sklearn",
    "qtbase5-doc-html",
    "sddm-theme-maldives",
    "supertuxkart-data",
    "sway-backgrounds",
    "tuxpaint-data",
    "warzone2100-data",
    "widelands-data",
    "xfdesktop4-data",
];

/// The reserved package `package` is, or is built from by its name (`lomiri-wallpapers-20.04`
/// from `lomiri-wallpapers`).
fn reserved_by_name(package: &str) -> Option<&'static str> {
    RESERVED.into_iter().find(|reserved| {
        package == *reserved
            || package
                .strip_prefix(reserved)
                .is_some_and(|rest| rest.starts_with('-'))
    })
}

/// The Debian source package that `query` (dpkg-query on an installed package, dpkg-deb on a
/// `.deb`) prints; empty where it prints none (a package whose source has its own name).
fn debian_source(query: &mut Command) -> String {
    query
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Refuses a reserved package, by its name and by the Debian source it was built from.
fn refuse_reserved(package: &str, source: &str) -> anyhow::Result<()> {
    if let Some(reserved) = reserved_by_name(package).or_else(|| reserved_by_name(source)) {
        bail!(
            "{package} comes from {reserved}, which is reserved for an independent check of the filters: none of its images may be used"
        );
    }
    Ok(())
}

/// Wesnoth's official campaigns: (package suffix, campaign folder). Each ships its own
/// character portraits and painted story scenes.
const WESNOTH_CAMPAIGNS: [(&str, &str); 16] = [
    ("did", "Descent_Into_Darkness"),
    ("dm", "Delfadors_Memoirs"),
    ("dw", "Dead_Water"),
    ("ei", "Eastern_Invasion"),
    ("httt", "Heir_To_The_Throne"),
    ("l", "Liberty"),
    ("low", "Legend_of_Wesmere"),
    ("nr", "Northern_Rebirth"),
    ("sof", "Sceptre_of_Fire"),
    ("sota", "Secrets_of_the_Ancients"),
    ("sotbe", "Son_Of_The_Black_Eye"),
    ("thot", "The_Hammer_of_Thursagan"),
    ("trow", "The_Rise_Of_Wesnoth"),
    ("tsg", "The_South_Guard"),
    ("ttb", "Two_Brothers"),
    ("utbs", "Under_the_Burning_Suns"),
];
const WESNOTH: &str = "/usr/share/games/wesnoth/1.16/data";
const WESNOTH_LICENSE: &str = "GPL-2+";
/// The wallpapers of `ukui-wallpapers`, which shares /usr/share/backgrounds with others: by name.
const UKUI_WALLPAPERS: [&str; 12] = [
    "2004default.jpg",
    "calla.png",
    "city.png",
    "desert.png",
    "firstgeneration.jpg",
    "fluent-color.png",
    "focal-ubuntukylin.png",
    "goldfish.png",
    "rhythm.jpg",
    "rollpaper.png",
    "string.jpg",
    "the-mouse.jpg",
];

fn ukui_medium(group: &str) -> Medium {
    match group {
        "calla" | "goldfish" => Medium::Painting,
        "firstgeneration" | "the-mouse" => Medium::Cartoon,
        "2004default" | "rhythm" | "string" => Medium::Render,
        _ => Medium::Abstract,
    }
}
/// KiCad's manual: screenshots of its editors (many on a black canvas) and renders of circuit boards.
const KICAD_SCREENSHOTS: [&str; 35] = [
    "Modedit_main_window.png",
    "Pcbnew_copper_layers_contrast_normal.png",
    "Pcbnew_example_library.png",
    "Pcbnew_technical_layers_contrast_high.png",
    "Pcbnew_zone_filling_result.png",
    "Pcbnew_zone_priority_example_after_filling.png",
    "Sample_3D_board.png",
    "board-with-switch-routed.png",
    "coldfire-footprint.png",
    "coldfire-layout.png",
    "coldfire-schematic.png",
    "dimensions.png",
    "drc-errors.png",
    "eeschema_complex_hierarchy.png",
    "eeschema_footprint_library_browser.png",
    "en/3d_viewer.png",
    "en/3d_window.png",
    "en/commands_overview.png",
    "en/cvpcb_main_window.png",
    "en/footprint_view.png",
    "en/main_window.png",
    "en/transline.png",
    "fab-outline.png",
    "footprint-3d-model.png",
    "footprints-positioned.png",
    "gerbview_main_screen.png",
    "libedit_main_window.png",
    "main_window.png",
    "pcbnew_user_interface.png",
    "project-manager-new-project.png",
    "raytracing.png",
    "routing-complete.png",
    "sch_with_buses.png",
    "sim_main_dialog.png",
    "symbols-pwr-flag.png",
];
/// Palapeli's puzzle photos: fruit, a bee, a chameleon and a bridge at night.
const PALAPELI_PHOTOS: [&str; 4] = [
    "cincinnati-bridge.jpg",
    "citrus-fruits.jpg",
    "european-honey-bee.jpg",
    "panther-chameleon-female.jpg",
];
/// Fotoxx's manual: photos (one a night city), a painting and screenshots of the photo editor.
const FOTOXX_PICTURES: [&str; 8] = [
    "HDR.jpg",
    "blur2.jpg",
    "denoise.jpg",
    "fotoxx-views.jpg",
    "gallery-view.jpg",
    "image-locations.jpg",
    "magnify-image.jpg",
    "warps.jpg",
];
/// FreeCol, the remake of Colonization: not installed (it pulls a Java runtime), unpacked.
const FREECOL: Pinned = Pinned {
    registry: "Debian",
    package: "freecol",
    version: "1.0.0-1",
    file_prefix: "freecol_1.0.0-1_",
    sha256: "4ee2d052ff86d7a16eec296cd42cad4c215cca11c179cd6d5f8a732b5637184d",
};
/// FreeCol's founding fathers: oil portraits of the colonial era in gilt frames. Left out: the
/// ones in armour (Drake, Coronado, Stuyvesant, Penn).
const FREECOL_FOUNDERS: [&str; 21] = [
    "adamSmith",
    "bartolomeDeLasCasas",
    "benjaminFranklin",
    "brewster",
    "cortes",
    "georgeWashington",
    "henryHudson",
    "hernandoDeSoto",
    "jacobFugger",
    "janDeWitt",
    "jeanDeBrebeuf",
    "johnPaulJones",
    "juanDeSepulveda",
    "laSalle",
    "magellan",
    "paulRevere",
    "peterMinuit",
    "pocahontas",
    "simonBolivar",
    "thomasJefferson",
    "thomasPaine",
];
/// FreeCol's rulers (paintings, engravings, three old photos), its engraved scenes of the
/// colonies, an antique map and a cartoon militiaman. Left out: rulers in armour or with a
/// sword, crowned medieval kings, conquistadors, the soldiers with a raised sabre, castle-like
/// forts and towns.
const FREECOL_PICTURES: [&str; 20] = [
    "default/resources/images/monarch/elizabeth.png",
    "default/resources/images/monarch/louis.png",
    "default/resources/images/monarch/louis2.png",
    "default/resources/images/monarch/pierre.png",
    "default/resources/images/monarch/segoyewatha.png",
    "default/resources/images/monarch/wahktageli.png",
    "default/resources/images/monarch/geronimo.png",
    "default/resources/images/monarch/taoyateduta.png",
    "mods/19thCenturyNations/resources/images/monarch/bismarck.png",
    "mods/19thCenturyNations/resources/images/monarch/leopold.png",
    "mods/19thCenturyNations/resources/images/monarch/suleiman.png",
    "mods/19thCenturyNations/resources/images/monarch/victor.png",
    "default/resources/images/ui/landing.png",
    "default/resources/images/ui/meet_natives.png",
    "default/resources/images/ui/political.png",
    "default/resources/images/ui/religious.png",
    "default/resources/images/ui/trade.png",
    "default/resources/images/ui/exploration.png",
    "default/resources/images/ui/victory.png",
    "base/resources/images/ui/map.jpg",
];

fn freecol_medium(group: &str) -> Medium {
    match group.rsplit('/').next().unwrap_or(group) {
        "geronimo" | "bismarck" | "victor" => Medium::Photo,
        "victory" => Medium::Cartoon,
        _ => Medium::Painting,
    }
}

/// Tux Paint's stamp folders that hold no fantasy (no Halloween witches, no armour) and no
/// bare letters or symbols: photos and drawings of everyday things, cut out on transparency.
const TUXPAINT_EVERYDAY: [&str; 11] = [
    "animals",
    "clothes",
    "food",
    "hobbies",
    "household",
    "medical",
    "naturalforces",
    "people",
    "plants",
    "space",
    "vehicles",
];

fn everything(_: &Path) -> bool {
    true
}

/// A file directly in the source's folder, named in `names`.
fn is_one_of(relative: &Path, names: &[&str]) -> bool {
    names.iter().any(|name| relative == Path::new(name))
}

fn starts_with_any(relative: &Path, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|prefix| relative.starts_with(prefix))
}

/// Where the images come from, in a fixed order.
fn sources() -> Vec<Source> {
    let freecol_root = backbone::downloads_dir()
        .join(FREECOL.package)
        .join("usr/share/games/freecol")
        .display()
        .to_string();
    let mut sources = vec![
        Source {
            package: "wesnoth-1.16-data".into(),
            license: WESNOTH_LICENSE,
            class: TARGET_CLASS,
            root: format!("{WESNOTH}/core/images/portraits"),
            keep: everything,
            layout: Layout::AsShipped,
            deb: None,
            medium: |_| Medium::Painting,
        },
        Source {
            package: "wesnoth-1.16-data".into(),
            license: WESNOTH_LICENSE,
            class: TARGET_CLASS,
            root: format!("{WESNOTH}/core/images/story"),
            keep: everything,
            layout: Layout::AsShipped,
            deb: None,
            medium: |_| Medium::Painting,
        },
    ];
    for (suffix, folder) in WESNOTH_CAMPAIGNS {
        sources.push(Source {
            package: format!("wesnoth-1.16-{suffix}"),
            license: WESNOTH_LICENSE,
            class: TARGET_CLASS,
            root: format!("{WESNOTH}/campaigns/{folder}/images"),
            // Portraits, story scenes and the painted campaign map; translated copies (l10n)
            // would be duplicates.
            keep: |relative| {
                starts_with_any(relative, &["portraits", "story", "maps"])
                    && !relative.components().any(|part| part.as_os_str() == "l10n")
            },
            layout: Layout::AsShipped,
            deb: None,
            medium: |_| Medium::Painting,
        });
    }
    sources.extend([
        Source {
            package: "flare-game".into(),
            license: "CC-BY-SA-3.0+ (see /usr/share/doc/flare-game/copyright)",
            class: TARGET_CLASS,
            root: "/usr/share/games/flare/mods".into(),
            // A second fantasy game's painted portraits and scenes: another artist's hand.
            keep: |relative| {
                starts_with_any(
                    relative,
                    &[
                        "fantasycore/images/portraits",
                        "fantasycore/images/menus/backgrounds",
                        "empyrean_campaign/images/cutscenes",
                    ],
                )
            },
            layout: Layout::AsShipped,
            deb: None,
            medium: |group| {
                // Portraits are painted; menu backgrounds and cutscenes are rendered scenes.
                if group.contains("portraits") {
                    Medium::Painting
                } else {
                    Medium::Render
                }
            },
        },
        Source {
            package: "plasma-workspace-wallpapers".into(),
            license: "GPL-2+ / LGPL-3 (see /usr/share/doc/plasma-workspace-wallpapers/copyright)",
            class: OTHER_CLASS,
            root: "/usr/share/wallpapers".into(),
            keep: everything,
            layout: Layout::Wallpaper,
            deb: None,
            medium: plasma_medium,
        },
        Source {
            package: "mate-backgrounds".into(),
            license: "GPL-2+ / CC-BY-SA (see /usr/share/doc/mate-backgrounds/copyright)",
            class: OTHER_CLASS,
            root: "/usr/share/backgrounds/mate".into(),
            keep: everything,
            layout: Layout::Wallpaper,
            deb: None,
            medium: |group| match group {
                _ if group.starts_with("nature/") => Medium::Photo,
                "abstract/Elephants" => Medium::Painting,
                _ => Medium::Abstract,
            },
        },
        Source {
            package: "gnome-backgrounds".into(),
            license: "CC-BY-SA-3.0 (see /usr/share/doc/gnome-backgrounds/copyright)",
            class: OTHER_CLASS,
            root: "/usr/share/backgrounds/gnome".into(),
            keep: everything,
            layout: Layout::Wallpaper,
            deb: None,
            medium: |group| match group {
                "licorice" | "pixels" | "wood" => Medium::Render,
                _ => Medium::Abstract,
            },
        },
        Source {
            package: "ukui-wallpapers".into(),
            license: "CC-BY-SA-3.0",
            class: OTHER_CLASS,
            root: "/usr/share/backgrounds".into(),
            keep: |relative| is_one_of(relative, &UKUI_WALLPAPERS),
            layout: Layout::Wallpaper,
            deb: None,
            medium: ukui_medium,
        },
        Source {
            package: "kicad-doc-en".into(),
            license: "GPL-2+ or CC-BY-SA-3.0 (see /usr/share/doc/kicad-doc-en/copyright)",
            class: OTHER_CLASS,
            root: "/usr/share/doc/kicad/help/en/images".into(),
            keep: |relative| is_one_of(relative, &KICAD_SCREENSHOTS),
            layout: Layout::AsShipped,
            deb: None,
            medium: |group| match group {
                "Sample_3D_board" | "raytracing" | "footprint-3d-model" => Medium::Render,
                _ => Medium::Screenshot,
            },
        },
        Source {
            package: "palapeli-data".into(),
            license: "GPL-2+ (see /usr/share/doc/palapeli-data/copyright)",
            class: OTHER_CLASS,
            root: "/usr/share/palapeli/collection".into(),
            keep: |relative| is_one_of(relative, &PALAPELI_PHOTOS),
            layout: Layout::AsShipped,
            deb: None,
            medium: |group| match group {
                "cincinnati-bridge" => Medium::NightPhoto,
                _ => Medium::Photo,
            },
        },
        Source {
            package: "fotoxx-common".into(),
            license: "GPL-3+ (see /usr/share/doc/fotoxx-common/copyright)",
            class: OTHER_CLASS,
            root: "/usr/share/fotoxx/images".into(),
            keep: |relative| is_one_of(relative, &FOTOXX_PICTURES),
            layout: Layout::AsShipped,
            deb: None,
            medium: |group| match group {
                "blur2" | "warps" => Medium::Photo,
                "magnify-image" => Medium::Painting,
                _ => Medium::Screenshot,
            },
        },
        Source {
            package: FREECOL.package.into(),
            license: "GPL-2+; the rulers public domain (see usr/share/doc/freecol/copyright)",
            class: OTHER_CLASS,
            root: freecol_root.clone(),
            keep: |relative| {
                let name = relative.to_string_lossy();
                FREECOL_FOUNDERS.iter().any(|founder| {
                    name == format!("default/resources/images/foundingFathers/{founder}.size6.jpg")
                })
            },
            layout: Layout::Framed,
            deb: Some(&FREECOL),
            medium: |_| Medium::Painting,
        },
        Source {
            package: FREECOL.package.into(),
            license: "GPL-2+; the rulers public domain (see usr/share/doc/freecol/copyright)",
            class: OTHER_CLASS,
            root: freecol_root,
            keep: |relative| is_one_of(relative, &FREECOL_PICTURES),
            layout: Layout::AsShipped,
            deb: Some(&FREECOL),
            medium: freecol_medium,
        },
        Source {
            package: "tuxpaint-stamps-default".into(),
            license: "GPL-2",
            class: OTHER_CLASS,
            root: "/usr/share/tuxpaint/stamps".into(),
            // Everyday things on a plain background: a white background says nothing.
            keep: |relative| starts_with_any(relative, &TUXPAINT_EVERYDAY),
            layout: Layout::AsShipped,
            deb: None,
            medium: |_| Medium::Cutout,
        },
    ]);
    sources
}

/// The Debian packages the dataset is assembled from that `cargo xtask setup` installs (the
/// others are unpacked when it is assembled).
pub fn packages() -> Vec<String> {
    let mut packages: Vec<String> = sources()
        .into_iter()
        .filter(|source| source.deb.is_none())
        .map(|source| source.package)
        .collect();
    packages.dedup();
    packages
}

pub fn dataset_dir() -> PathBuf {
    work_dir().join("data").join("default")
}

/// Builds the dataset unless an identical one is already there; returns its folder.
pub fn assemble() -> anyhow::Result<PathBuf> {
    let dir = dataset_dir();
    let marker = dir.join("VERSION");
    if fs::read_to_string(&marker).is_ok_and(|v| v.trim() == DATASET_VERSION) {
        return Ok(dir);
    }
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    let mut manifest =
        String::from("split\tclass\tfile\tsha256\tpackage\tmedium\tlicense\toriginal\n");
    let mut counts: BTreeMap<(String, &str), usize> = BTreeMap::new();
    // Campaigns reuse core portraits: a file seen before is a duplicate, kept once.
    let mut seen = HashSet::new();
    let mut duplicates = 0;
    for source in &sources() {
        let built_from = match source.deb {
            Some(pin) => {
                let (deb, _) = backbone::unpacked_deb(pin)?;
                debian_source(Command::new("dpkg-deb").arg("-f").arg(deb).arg("Source"))
            }
            None => debian_source(Command::new("dpkg-query").args([
                "-W",
                "-f=${source:Package}",
                &source.package,
            ])),
        };
        refuse_reserved(&source.package, &built_from)?;
        let root = Path::new(&source.root);
        let missing = || match source.deb {
            Some(_) => format!(
                "no images of the {} package under {}: the unpacked package lacks them",
                source.package, source.root
            ),
            None => format!(
                "no images of the {} package under {}: run `cargo xtask setup`, which installs it",
                source.package, source.root
            ),
        };
        let files: Vec<PathBuf> = image_files(root)
            .with_context(missing)?
            .into_iter()
            .filter(|path| (source.keep)(path.strip_prefix(root).unwrap_or(path)))
            .collect();
        if files.is_empty() {
            bail!(missing());
        }
        for (group, path) in groups(source, &files) {
            let medium = (source.medium)(&group).name();
            let split = split_of(&format!("{}/{group}", source.package));
            let folder = dir.join(split).join(source.class);
            fs::create_dir_all(&folder)?;
            let stem = format!("{}--{}", source.package, group.replace('/', "-"));
            let written = match source.layout {
                Layout::Wallpaper => write_crops(&path, &folder, &stem, &CROPS)?,
                Layout::Framed => write_crops(&path, &folder, &stem, &[INSIDE_THE_FRAME])?,
                Layout::AsShipped => {
                    let name = format!("{stem}.{}", extension(&path));
                    fs::copy(&path, folder.join(&name))?;
                    vec![name]
                }
            };
            for name in written {
                let digest = hex(&Sha256::digest(fs::read(folder.join(&name))?));
                if !seen.insert(digest.clone()) {
                    fs::remove_file(folder.join(&name))?;
                    duplicates += 1;
                    continue;
                }
                manifest.push_str(&format!(
                    "{split}\t{}\t{name}\t{digest}\t{}\t{medium}\t{}\t{}\n",
                    source.class,
                    source.package,
                    source.license,
                    path.display()
                ));
                *counts.entry((split.to_string(), source.class)).or_default() += 1;
            }
        }
    }
    fs::write(dir.join("manifest.tsv"), manifest)?;
    fs::write(&marker, DATASET_VERSION)?;
    let summary: Vec<String> = counts
        .iter()
        .map(|((split, class), n)| format!("{split}/{class} {n}"))
        .collect();
    eprintln!(
        "assembled {} ({}; {duplicates} exact duplicates left out)",
        dir.display(),
        summary.join(", ")
    );
    Ok(dir)
}

/// The first [`PARITY_IMAGES`] images of the default run's test split (which its recipe may
/// draw by source, not from the dataset's `test/` folder), alternating classes, in a stable
/// order: read from the run's `test-predictions.json`, so the trainer scored every one.
pub fn parity_images(run_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let predictions = run_dir.join("test-predictions.json");
    let scored: Vec<serde_json::Value> = serde_json::from_slice(
        &fs::read(&predictions)
            .with_context(|| format!("cannot read {}", predictions.display()))?,
    )
    .with_context(|| format!("{} is not a list of predictions", predictions.display()))?;
    let files: Vec<&str> = scored
        .iter()
        .filter_map(|prediction| prediction["file"].as_str())
        .collect();
    let mut per_class = Vec::new();
    for class in [TARGET_CLASS, OTHER_CLASS] {
        // `split/class/name`, relative to the dataset's folder.
        let mut of_class: Vec<PathBuf> = files
            .iter()
            .filter(|file| file.split('/').nth(1) == Some(class))
            .map(|file| dataset_dir().join(file))
            .collect();
        of_class.sort();
        per_class.push(of_class);
    }
    let mut chosen = Vec::new();
    for index in 0.. {
        if chosen.len() >= PARITY_IMAGES || per_class.iter().all(|files| index >= files.len()) {
            break;
        }
        chosen.extend(
            per_class
                .iter()
                .filter_map(|files| files.get(index).cloned()),
        );
    }
    chosen.truncate(PARITY_IMAGES);
    Ok(chosen)
}

/// 70 / 15 / 15 by a hash of the group name, so the split never depends on file order.
fn split_of(group: &str) -> &'static str {
    let digest = Sha256::digest(group.as_bytes());
    match u16::from_le_bytes([digest[0], digest[1]]) % 100 {
        0..70 => "train",
        70..85 => "valid",
        _ => "test",
    }
}

/// One file per picture: each file for art, the largest resolution for wallpapers (grouped by
/// their folder, or by the name without its resolution or light/dark suffix).
fn groups(source: &Source, files: &[PathBuf]) -> BTreeMap<String, PathBuf> {
    let root = Path::new(&source.root);
    let mut chosen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in files {
        let relative = path.strip_prefix(root).unwrap_or(path);
        let group = if source.layout == Layout::Wallpaper {
            wallpaper_group(relative)
        } else {
            relative.with_extension("").display().to_string()
        };
        let size = |p: &Path| p.metadata().map(|m| m.len()).unwrap_or(0);
        match chosen.get(&group) {
            Some(existing) if size(existing) >= size(path) => {}
            _ => {
                chosen.insert(group, path.clone());
            }
        }
    }
    chosen
}

fn wallpaper_group(relative: &Path) -> String {
    let mut parts = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    let first = parts.next().unwrap_or_default();
    if relative.components().count() > 2 {
        // plasma: <Name>/contents/images/<W>x<H>.jpg
        return first;
    }
    let stem = relative
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let stem = stem.trim_end_matches(|c: char| c.is_ascii_digit() || c == 'x' || c == '_');
    let stem = stem
        .strip_suffix("-d")
        .or_else(|| stem.strip_suffix("-l"))
        .unwrap_or(stem);
    match relative.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => format!("{}/{stem}", parent.display()),
        None => stem.to_string(),
    }
}

/// `crops` of the picture at `path` (x, y, width, height as fractions of it), each at most
/// [`MAX_SIDE`], as `{stem}--{index}.jpg` in `folder`.
fn write_crops(
    path: &Path,
    folder: &Path,
    stem: &str,
    crops: &[(f32, f32, f32, f32)],
) -> anyhow::Result<Vec<String>> {
    let picture = image::open(path)
        .with_context(|| format!("cannot decode {}", path.display()))?
        .into_rgb8();
    // Wallpapers are up to 6000 px wide: one quick box-filtered shrink to what the smallest
    // crop needs makes the four filtered resizes below cheap (about 1 s a wallpaper otherwise).
    let (width, height) = picture.dimensions();
    let needed = (MAX_SIDE as f32 / SMALLEST_CROP).ceil() as u32;
    let scale = (needed as f32 / width.max(height) as f32).min(1.0);
    let picture = if scale < 1.0 {
        image::imageops::thumbnail(
            &picture,
            ((width as f32 * scale) as u32).max(1),
            ((height as f32 * scale) as u32).max(1),
        )
    } else {
        picture
    };
    let (width, height) = picture.dimensions();
    let mut names = Vec::new();
    for (index, (x, y, w, h)) in crops.iter().enumerate() {
        let crop = image::imageops::crop_imm(
            &picture,
            (x * width as f32) as u32,
            (y * height as f32) as u32,
            ((w * width as f32) as u32).max(1),
            ((h * height as f32) as u32).max(1),
        )
        .to_image();
        let scale = (MAX_SIDE as f32 / crop.width().max(crop.height()) as f32).min(1.0);
        let resized = image::imageops::resize(
            &crop,
            ((crop.width() as f32 * scale) as u32).max(1),
            ((crop.height() as f32 * scale) as u32).max(1),
            FilterType::Triangle,
        );
        let name = format!("{stem}--{index}.jpg");
        let file = fs::File::create(folder.join(&name))?;
        JpegEncoder::new_with_quality(std::io::BufWriter::new(file), JPEG_QUALITY)
            .encode_image(&resized)?;
        names.push(name);
    }
    Ok(names)
}

/// Decodable image files below `dir` (SVG is left out: the image crate does not rasterise it).
pub fn image_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in
            fs::read_dir(&folder).with_context(|| format!("cannot read {}", folder.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if matches!(extension(&path).as_str(), "png" | "jpg" | "jpeg" | "webp") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

pub fn extension(path: &Path) -> String {
    path.extension()
        .unwrap_or_default()
        .to_string_lossy()
        .to_ascii_lowercase()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(package: &str) -> Source {
        sources()
            .into_iter()
            .find(|source| source.package == package)
            .unwrap()
    }

    #[test]
    fn campaigns_give_portraits_scenes_and_maps_but_not_translations_or_sprites() {
        let campaign = source("wesnoth-1.16-httt");
        assert!(
            campaign
                .root
                .ends_with("campaigns/Heir_To_The_Throne/images")
        );
        for kept in [
            "portraits/Konrad.png",
            "story/httt_story1.jpg",
            "maps/httt.png",
        ] {
            assert!((campaign.keep)(Path::new(kept)), "{kept}");
        }
        for left in ["maps/l10n/de/httt.png", "units/konrad.png", "misc/logo.png"] {
            assert!(!(campaign.keep)(Path::new(left)), "{left}");
        }
    }

    #[test]
    fn shared_folders_are_read_by_file_name_and_tux_paint_without_fantasy_stamps() {
        let ukui = source("ukui-wallpapers");
        assert!((ukui.keep)(Path::new("city.png")));
        assert!(!(ukui.keep)(Path::new("gnome/adwaita-l.jpg")));
        let tuxpaint = source("tuxpaint-stamps-default");
        assert!((tuxpaint.keep)(Path::new("animals/mammals/badger.png")));
        for left in [
            "seasonal/halloween/witch.png",
            "military/sword.png",
            "symbols/a.png",
        ] {
            assert!(!(tuxpaint.keep)(Path::new(left)), "{left}");
        }
    }

    #[test]
    fn freecol_gives_its_founders_unframed_without_armour_and_is_unpacked_not_installed() {
        let founders = source("freecol");
        assert!(founders.layout == Layout::Framed && founders.deb.is_some());
        let folder = "default/resources/images/foundingFathers";
        assert!((founders.keep)(
            &Path::new(folder).join("adamSmith.size6.jpg")
        ));
        // The small copy would be a duplicate; Drake wears armour.
        for left in ["adamSmith.jpg", "francisDrake.size6.jpg"] {
            assert!(!(founders.keep)(&Path::new(folder).join(left)), "{left}");
        }
        assert!(!packages().contains(&"freecol".to_string()));
        assert!(matches!(
            freecol_medium("mods/x/monarch/bismarck"),
            Medium::Photo
        ));
        assert!(matches!(
            freecol_medium("default/ui/landing"),
            Medium::Painting
        ));
    }

    #[test]
    fn no_dataset_package_is_reserved_nor_built_from_a_reserved_one() {
        assert_eq!(
            reserved_by_name("lomiri-wallpapers-20.04"),
            Some("lomiri-wallpapers")
        );
        assert_eq!(reserved_by_name("desktop-base"), Some("desktop-base"));
        assert_eq!(reserved_by_name("tuxpaint-stamps-default"), None);
        for source in sources() {
            assert_eq!(
                reserved_by_name(&source.package),
                None,
                "{}",
                source.package
            );
        }
    }

    #[test]
    fn every_package_is_installed_once_and_about_15_percent_is_held_out() {
        let packages = packages();
        let unique: HashSet<&String> = packages.iter().collect();
        assert_eq!(unique.len(), packages.len());
        assert!(packages.len() >= 20, "{packages:?}");
        // About 15% of groups are held out.
        let tests = (0..1000)
            .filter(|n| split_of(&format!("group {n}")) == "test")
            .count();
        assert!((120..=180).contains(&tests), "{tests} of 1000 held out");
    }
}
