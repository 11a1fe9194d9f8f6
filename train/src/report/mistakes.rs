//! The report's mistakes: the held-out test images the filter got most confidently wrong at the
//! balanced point, as thumbnails with their score, source and medium, so that a person sees at a glance
//! what it confuses (every painting? night photos? one game's art?).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use super::escape;
use crate::data::{Example, Provenance};

/// How many of each kind of mistake the report shows.
pub const SHOWN: usize = 8;
/// The folder of the run (beside `report.html`) that holds the thumbnails.
pub const FOLDER: &str = "mistakes";
const THUMBNAIL_PX: u32 = 160;

/// A test image judged wrongly: its example, its flagged probability, and where it came from and
/// how it was made, where the dataset's manifest says.
pub struct Mistake<'a> {
    pub example: &'a Example,
    pub score: f32,
    pub provenance: Option<&'a Provenance>,
}

/// The most confident mistakes at `threshold` (flagged from `threshold` up): false positives,
/// highest score first, and misses, lowest score first; at most [`SHOWN`] of each.
pub fn worst<'a>(
    examples: &'a [Example],
    scored: &[(f32, bool)],
    provenance: Option<&'a [Provenance]>,
    threshold: f32,
) -> [Vec<Mistake<'a>>; 2] {
    let mistakes = |false_positive: bool| {
        let mut found: Vec<Mistake> = examples
            .iter()
            .zip(scored)
            .enumerate()
            .filter(|(_, (_, (score, target)))| {
                let flagged = *score >= threshold;
                flagged != *target && flagged == false_positive
            })
            .map(|(index, (example, (score, _)))| Mistake {
                example,
                score: *score,
                provenance: provenance.map(|rows| &rows[index]),
            })
            .collect();
        // Most confident first: a false positive by how sure it was, a miss by how unsure.
        found.sort_by(|a, b| {
            let order = a.score.total_cmp(&b.score);
            if false_positive {
                order.reverse()
            } else {
                order
            }
        });
        found.truncate(SHOWN);
        found
    };
    [mistakes(true), mistakes(false)]
}

/// Appends the mistakes section to `html`, writing each thumbnail into `dir/mistakes/`. An image
/// that can no longer be read is listed without one.
pub fn write_section(
    html: &mut String,
    dir: &Path,
    [false_positives, misses]: &[Vec<Mistake>; 2],
    threshold: f32,
) -> anyhow::Result<()> {
    let _ = write!(
        html,
        "<h3>The most confident mistakes at the balanced point (threshold {threshold:.4})</h3>"
    );
    if false_positives.is_empty() && misses.is_empty() {
        html.push_str("<p>None: every test image is on the right side of the threshold.</p>");
        return Ok(());
    }
    let folder = dir.join(FOLDER);
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    for (kind, title, mistakes) in [
        (
            "false-positive",
            "Wrongly flagged (most confident first)",
            false_positives,
        ),
        ("miss", "Missed (least flagged first)", misses),
    ] {
        let _ = write!(html, "<h4>{title}: {}</h4>", mistakes.len());
        if mistakes.is_empty() {
            continue;
        }
        html.push_str("<div class=\"mistakes\">");
        for (rank, mistake) in mistakes.iter().enumerate() {
            let name = mistake.example.path.file_name().unwrap_or_default();
            let caption = format!(
                "{} · {:.3}{}",
                escape(&name.to_string_lossy()),
                mistake.score,
                mistake
                    .provenance
                    .map(|row| {
                        let medium = row.medium.as_deref().map(|m| format!(" · {}", escape(m)));
                        format!(" · {}{}", escape(&row.source), medium.unwrap_or_default())
                    })
                    .unwrap_or_default()
            );
            let file = format!("{kind}-{}.jpg", rank + 1);
            let picture = match thumbnail(&mistake.example.path, &folder.join(&file)) {
                Ok(()) => format!("<img src=\"{FOLDER}/{file}\" alt=\"\">"),
                Err(error) => format!("<p>({})</p>", escape(&format!("{error:#}"))),
            };
            let _ = write!(
                html,
                "<figure title=\"{}\">{picture}<figcaption>{caption}</figcaption></figure>",
                escape(&mistake.example.path.display().to_string())
            );
        }
        html.push_str("</div>");
    }
    Ok(())
}

fn thumbnail(image: &Path, out: &Path) -> anyhow::Result<()> {
    let picture = image::open(image).with_context(|| format!("cannot read {}", image.display()))?;
    picture
        .thumbnail(THUMBNAIL_PX, THUMBNAIL_PX)
        .to_rgb8()
        .save(out)
        .with_context(|| format!("cannot write {}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn example(path: PathBuf) -> Example {
        Example {
            path,
            input: Vec::new(),
            labels: vec![0],
        }
    }

    #[test]
    fn the_report_shows_the_most_confident_mistakes_of_each_kind_as_thumbnails() {
        let dir = std::env::temp_dir().join(format!("veil-mistakes-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Twelve non-targets and three targets; real PNG files, one of them gone by report time.
        let scored: Vec<(f32, bool)> = (0..12)
            .map(|i| (i as f32 / 12.0, false))
            .chain([(0.9, true), (0.2, true), (0.45, true)])
            .collect();
        let examples: Vec<Example> = (0..scored.len())
            .map(|i| {
                let path = dir.join(format!("image-{i}.png"));
                if i != 11 {
                    image::RgbImage::from_pixel(320, 200, image::Rgb([(i * 17) as u8, 90, 160]))
                        .save(&path)
                        .unwrap();
                }
                example(path)
            })
            .collect();
        let provenance: Vec<Provenance> = (0..scored.len())
            .map(|i| Provenance {
                source: format!("package-{i}"),
                medium: (i % 2 == 1).then(|| "painting".to_string()),
                original: None,
            })
            .collect();

        let mistakes = worst(&examples, &scored, Some(&provenance), 0.5);
        let [false_positives, misses] = &mistakes;
        // Non-targets at 6/12 … 11/12 are flagged, most confident first.
        let flagged: Vec<f32> = false_positives.iter().map(|m| m.score).collect();
        let expected: Vec<f32> = (6..12).rev().map(|i| i as f32 / 12.0).collect();
        assert_eq!(flagged, expected);
        // The targets under 0.5, least flagged first; the one at 0.9 is caught.
        let missed: Vec<f32> = misses.iter().map(|m| m.score).collect();
        assert_eq!(missed, [0.2, 0.45]);
        assert_eq!(misses[0].provenance, Some(&provenance[13]));

        let mut html = String::new();
        write_section(&mut html, &dir, &mistakes, 0.5).unwrap();
        assert!(
            html.contains("Wrongly flagged (most confident first): 6"),
            "{html}"
        );
        assert!(
            html.contains("image-13.png · 0.200 · package-13 · painting<"),
            "{html}"
        );
        assert!(
            html.contains("image-14.png · 0.450 · package-14<"),
            "{html}"
        );
        // The vanished file is named with the reason, the others have a thumbnail.
        assert!(html.contains("cannot read"), "{html}");
        let thumbnail = image::open(dir.join(FOLDER).join("false-positive-2.jpg")).unwrap();
        assert_eq!((thumbnail.width(), thumbnail.height()), (160, 100));
        assert!(html.contains("src=\"mistakes/miss-2.jpg\""), "{html}");

        // More mistakes than shown: only the SHOWN most confident.
        let many: Vec<(f32, bool)> = (0..20).map(|i| (0.5 + i as f32 / 100.0, false)).collect();
        let examples: Vec<Example> = (0..20).map(|i| example(dir.join(format!("{i}")))).collect();
        let [false_positives, _] = worst(&examples, &many, None, 0.5);
        assert_eq!(false_positives.len(), SHOWN);
        assert_eq!(false_positives[0].score, 0.69);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
