//! The HTML page in a real browser: Debian's headless Chromium loads the file, runs its script,
//! and the DOM it dumps must hold the rendered matrix and the opened criteria of one cell.
//! Skipped (with a message) where no chromium binary is installed; CI installs it.
//!
//! `JUDGE_REPORT_SCREENSHOT=/some/file.png` keeps a copy of the screenshot for a person to look
//! at (and the page beside it, as .html); by default they live and dies in a temporary folder, never in the repository.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use judge_report::Format;

const CHROMIUM_CANDIDATES: [&str; 2] = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];
const DEADLINE: Duration = Duration::from_secs(90);

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    CHROMIUM_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Runs headless Chromium on `url` with `extra` flags; returns its stdout. Kills it at the
/// deadline so a hung browser fails the test instead of hanging it.
fn run_chromium(binary: &Path, scratch: &Path, url: &str, extra: &[&str]) -> String {
    let profile = tempfile::tempdir_in(scratch).unwrap();
    let stdout_path = scratch.join(format!("stdout-{}.html", extra.len()));
    let stdout = std::fs::File::create(&stdout_path).unwrap();
    let mut child = Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "chromium exited with {status}");
    std::fs::read_to_string(stdout_path).unwrap()
}

/// The opening tag of the element with `id`.
fn opening_tag<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element #{id} in the DOM"));
    let start = dom[..at].rfind('<').unwrap();
    let end = at + dom[at..].find('>').unwrap();
    &dom[start..=end]
}

#[test]
fn the_matrix_renders_and_a_criterion_is_reachable_in_chromium() {
    let Some(binary) = chromium() else {
        // Not grader-testkit's helper: judge-report's tests depend on no grader crate.
        let required = std::env::var("JUDGE_REQUIRE_TOOLS").unwrap_or_default();
        assert!(
            !required.split(',').any(|t| t.trim() == "chromium"),
            "chromium is required (JUDGE_REQUIRE_TOOLS) but none is at {CHROMIUM_CANDIDATES:?}"
        );
        eprintln!(
            "SKIPPED: no chromium at {CHROMIUM_CANDIDATES:?} (apt-get install chromium, or set CHROMIUM)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    support::write_scenario(&reports);
    let matrix = support::matrix(&reports);
    let page = dir.path().join("report.html");
    std::fs::write(&page, Format::Html.render(&matrix)).unwrap();
    let url = format!("file://{}?open=cell-alpha-beam_search", page.display());

    let dom = run_chromium(&binary, dir.path(), &url, &["--dump-dom"]);
    assert!(opening_tag(&dom, "matrix").starts_with("<table"));
    assert!(
        dom.contains("<body data-ready=\"1\">"),
        "the script ran to its end"
    );

    let rows = matrix.challenges.len();
    let columns = matrix.models.len();
    let body_cells = dom.matches("<td class=\"cell").count() - columns; // minus the totals row
    assert_eq!(
        body_cells,
        rows * columns,
        "every matrix cell is in the DOM"
    );
    for cell in &matrix.cells {
        let id = judge_report::html::cell_id(&cell.model, cell.challenge);
        let tag = opening_tag(&dom, &id);
        assert!(
            tag.contains("tabindex=\"0\""),
            "the script made {id} focusable: {tag}"
        );
    }

    let cell = opening_tag(&dom, "cell-alpha-beam_search");
    assert!(cell.contains("selected"), "{cell}");
    let details = opening_tag(&dom, "criteria-alpha-beam_search");
    assert!(
        details.contains(" open=\"\""),
        "the ?open= cell's criteria are open: {details}"
    );
    let panel_start = dom.find(details).unwrap();
    let panel = &dom[panel_start..panel_start + dom[panel_start..].find("</details>").unwrap()];
    assert!(panel.contains("eos_retention"));
    assert!(panel.contains("FAIL"));
    assert!(
        panel.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "hostile evidence is shown as text: {panel}"
    );
    assert_eq!(
        dom.matches("<script").count(),
        1,
        "no element came from report text"
    );
    let open_panels = dom
        .match_indices("<details ")
        .filter(|(i, _)| dom[*i..].split('>').next().unwrap().contains(" open=\"\""))
        .count();
    assert_eq!(open_panels, 1, "the other panels stay closed");

    let shot = dir.path().join("matrix.png");
    run_chromium(
        &binary,
        dir.path(),
        &url,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1400,900",
            "--hide-scrollbars",
            // Without it the capture can come before the lower part of the page is painted.
            "--run-all-compositor-stages-before-draw",
        ],
    );
    if let Some(keep) = std::env::var_os("JUDGE_REPORT_SCREENSHOT") {
        let keep = PathBuf::from(keep);
        std::fs::copy(&shot, &keep).unwrap();
        std::fs::copy(&page, keep.with_extension("html")).unwrap();
    }
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}
