//! Assembles the extension for both browsers from the one source tree in `extension/`: the
//! Chrome build keeps the manifest as written (service worker + offscreen document); the
//! Firefox build runs the same scripts as background scripts and names its gecko id. Each gets
//! the wasm module from `www/pkg` and the default pack, and is zipped for the stores.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Value, json};
use zip::write::SimpleFileOptions;

use crate::shell::run;
use crate::{root, work_dir};

pub const GECKO_ID: &str = "veil@veil-filter.org";
/// Firefox 128 is the first ESR with MV3 background modules and `storage.session`.
const FIREFOX_MIN_VERSION: &str = "128.0";

#[derive(Clone, Copy)]
pub enum Browser {
    Chrome,
    Firefox,
}

impl Browser {
    fn name(self) -> &'static str {
        match self {
            Browser::Chrome => "chrome",
            Browser::Firefox => "firefox",
        }
    }

    /// Source files only the other browser runs.
    fn excluded(self) -> &'static [&'static str] {
        match self {
            Browser::Chrome => &["background-firefox.js"],
            Browser::Firefox => &["background-chrome.js", "offscreen.html", "offscreen.js"],
        }
    }
}

/// The unpacked build for `browser` (what tests load), after [`assemble`].
pub fn unpacked(browser: Browser) -> PathBuf {
    work_dir().join("extension").join(browser.name())
}

/// Builds both unpacked extensions and their zips; returns the zips' paths.
pub fn assemble(pack: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut zips = Vec::new();
    for browser in [Browser::Chrome, Browser::Firefox] {
        let dir = unpacked(browser);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(dir.join("pkg"))?;
        fs::create_dir_all(dir.join("packs"))?;
        for entry in fs::read_dir(root().join("extension"))? {
            let path = entry?.path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let skipped = ["manifest.json", "README.md"].contains(&name.as_str())
                || browser.excluded().contains(&name.as_str());
            if path.is_file() && !skipped {
                fs::copy(&path, dir.join(&name))?;
            }
        }
        let pkg = root().join("www").join("pkg");
        for name in crate::wasm::shipped_files() {
            fs::copy(pkg.join(&name), dir.join("pkg").join(&name)).with_context(|| {
                format!("{name} is missing from www/pkg: build the wasm modules first")
            })?;
        }
        fs::copy(pack, dir.join("packs").join("default.veilpack"))?;
        let manifest = manifest(browser)?;
        fs::write(
            dir.join("manifest.json"),
            serde_json::to_vec_pretty(&manifest)?,
        )?;
        let zip = work_dir()
            .join("extension")
            .join(format!("veil-{}.zip", browser.name()));
        write_zip(&dir, &zip)?;
        eprintln!(
            "extension for {}: {} ({} bytes zipped)",
            browser.name(),
            dir.display(),
            fs::metadata(&zip)?.len()
        );
        zips.push(zip);
    }
    Ok(zips)
}

/// Mozilla's linter on the Firefox build; warnings fail it too.
pub fn lint_firefox() -> anyhow::Result<()> {
    let web_ext = root().join("node_modules").join(".bin").join("web-ext");
    let source = unpacked(Browser::Firefox).display().to_string();
    run(
        &web_ext.display().to_string(),
        &[
            "lint",
            "--source-dir",
            &source,
            "--warnings-as-errors",
            "--output",
            "text",
        ],
        &root(),
    )
}

fn manifest(browser: Browser) -> anyhow::Result<Value> {
    let source = root().join("extension").join("manifest.json");
    let mut manifest: Value = serde_json::from_slice(&fs::read(&source)?)
        .with_context(|| format!("{} is not valid JSON", source.display()))?;
    if let Browser::Firefox = browser {
        let object = manifest
            .as_object_mut()
            .context("the manifest is not a JSON object")?;
        object.remove("minimum_chrome_version");
        object.insert(
            "background".into(),
            json!({ "scripts": ["background-firefox.js"], "type": "module" }),
        );
        // Nothing leaves the machine, and Firefox's add-on store asks extensions to say so.
        object.insert(
            "browser_specific_settings".into(),
            json!({ "gecko": {
                "id": GECKO_ID,
                "strict_min_version": FIREFOX_MIN_VERSION,
                "data_collection_permissions": { "required": ["none"] },
            } }),
        );
        // Firefox has no offscreen documents: its background page runs the network itself.
        if let Some(Value::Array(permissions)) = object.get_mut("permissions") {
            permissions.retain(|permission| permission != "offscreen");
        }
    }
    Ok(manifest)
}

fn write_zip(dir: &Path, zip_path: &Path) -> anyhow::Result<()> {
    let mut zip = zip::ZipWriter::new(fs::File::create(zip_path)?);
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut pending = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    while let Some(folder) = pending.pop() {
        for entry in fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path)
            } else {
                files.push(path)
            }
        }
    }
    files.sort();
    for path in files {
        let name = path.strip_prefix(dir)?.to_string_lossy().replace('\\', "/");
        zip.start_file(name, options)?;
        zip.write_all(&fs::read(&path)?)?;
    }
    zip.finish()?;
    Ok(())
}
