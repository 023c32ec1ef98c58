//! The matrix built from a scenario tree of GRADE.json files whose scores were worked out by
//! hand (see `support::write_scenario`), and its Markdown, JSON and HTML renderings.

mod support;

use judge_core::ChallengeId::{self, *};
use judge_report::{Format, GatherError, Grade, Matrix, ProblemKind, Status, gather};
use support::{XSS, key, matrix, put, put_text, report, tally, write_scenario};

fn scenario() -> (tempfile::TempDir, Matrix) {
    let dir = tempfile::tempdir().unwrap();
    write_scenario(dir.path());
    let matrix = matrix(dir.path());
    (dir, matrix)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn columns_are_the_reference_then_the_models_best_first() {
    let (_dir, m) = scenario();
    assert_eq!(m.models, ["reference", "gamma", "alpha", "beta", "delta"]);
    let ranks: Vec<_> = m.totals.iter().map(|t| t.rank).collect();
    assert_eq!(ranks, [None, Some(1), Some(2), Some(3), Some(3)]);
    let rows: Vec<_> = m.challenges.iter().map(|c| c.id).collect();
    assert_eq!(rows, ChallengeId::ALL);
    assert_eq!(
        m.challenges[7].difficulty,
        judge_core::Difficulty::OpenEndedResearch
    );
}

#[test]
fn cell_scores_and_grades_match_the_hand_computed_table() {
    let (_dir, m) = scenario();
    let expect = [
        (Backwards, 1.0, Grade::A),
        (Fuse, 0.75, Grade::B),
        (Kv, 2.0 / 3.0, Grade::C),
        (BeamSearch, 0.5, Grade::D),
        (FlashAttention, 0.6, Grade::C),
        (DflashVerify, 0.9, Grade::A),
        (FlashAttentionBwd, 0.0, Grade::F),
        (TernaryTraining, 0.5, Grade::Err),
    ];
    for (challenge, score, grade) in expect {
        let cell = m
            .cell("alpha", challenge)
            .expect("alpha has every challenge");
        assert!(
            close(cell.score, score),
            "{challenge}: {} vs {score}",
            cell.score
        );
        assert_eq!(cell.grade, grade, "{challenge}");
    }
    for id in [DflashVerify, FlashAttentionBwd, TernaryTraining] {
        assert!(m.cell("gamma", id).is_none(), "gamma has no {id}");
    }
    for id in ChallengeId::ALL {
        assert_eq!(m.cell("reference", id).unwrap().grade, Grade::A);
    }
    assert_eq!(m.cells.len(), 8 + 5 + 8 + 3 + 3);
}

#[test]
fn totals_are_means_over_all_eight_with_missing_as_zero() {
    let (_dir, m) = scenario();
    let alpha = (1.0 + 0.75 + 2.0 / 3.0 + 0.5 + 0.6 + 0.9 + 0.0 + 0.5) / 8.0;
    let expect = [
        ("reference", 1.0, Grade::A, 8),
        ("gamma", 5.0 / 8.0, Grade::C, 5),
        ("alpha", alpha, Grade::C, 8),
        ("beta", 3.0 / 8.0, Grade::F, 3),
        ("delta", 3.0 / 8.0, Grade::F, 3),
    ];
    for (model, score, grade, graded) in expect {
        let total = m.total(model).unwrap();
        assert!(
            close(total.score, score),
            "{model}: {} vs {score}",
            total.score
        );
        assert_eq!((total.grade, total.graded), (grade, graded), "{model}");
    }
    assert_eq!(m.total("alpha").unwrap().harness_faults, 1);
    assert_eq!(m.total("beta").unwrap().stale, 1);
}

#[test]
fn a_cell_counts_auto_verdicts_and_lists_what_cost_points() {
    let (_dir, m) = scenario();
    let cell = m.cell("alpha", FlashAttention).unwrap();
    assert_eq!(
        (cell.pass, cell.fail, cell.error, cell.skipped, cell.review),
        (1, 1, 0, 1, 1)
    );
    let failing: Vec<_> = cell
        .failing
        .iter()
        .map(|c| (c.id.as_str(), c.status))
        .collect();
    assert_eq!(
        failing,
        [("no_nxn", Status::Fail), ("gpu_speed", Status::Skipped)]
    );
    let manual = cell
        .criteria
        .iter()
        .find(|c| c.id == "explain_rescale")
        .unwrap();
    assert_eq!(
        manual.status,
        Status::Review,
        "manual criteria are never PASS"
    );
    assert_eq!(cell.criteria.len(), 5);

    let err = m.cell("alpha", TernaryTraining).unwrap();
    assert!(err.harness_fault);
    assert!(
        err.failing
            .iter()
            .any(|c| c.harness_fault && c.status == Status::Error)
    );
}

#[test]
fn problems_are_listed_and_never_fatal() {
    let (_dir, m) = scenario();
    let listed: Vec<_> = m
        .problems
        .iter()
        .map(|p| (p.path.as_str(), p.kind))
        .collect();
    assert_eq!(
        listed,
        [
            ("beta/backwards/GRADE.json", ProblemKind::Stale),
            ("broken/kv/GRADE.json", ProblemKind::Malformed),
            ("delta/fuse/GRADE.json", ProblemKind::ScoreMismatch),
            ("future/kv/GRADE.json", ProblemKind::WrongSchema),
            ("linked", ProblemKind::SymbolicLink),
            ("out/alpha/fuse/GRADE.json", ProblemKind::Duplicate),
            ("x/reference/kv/GRADE.json", ProblemKind::ReservedName),
        ]
    );
    let reason = |kind| &m.problems.iter().find(|p| p.kind == kind).unwrap().reason;
    assert!(reason(ProblemKind::WrongSchema).contains("schema version 2"));
    assert!(reason(ProblemKind::Duplicate).contains("alpha/fuse/GRADE.json"));
    let stale = reason(ProblemKind::Stale);
    assert!(
        stale.contains("backwards/0") && stale.contains("backwards/1"),
        "{stale}"
    );

    // The stale report still counts, marked; the tampered score is replaced by the criteria's.
    let beta = m.cell("beta", Backwards).unwrap();
    assert!(beta.stale && close(beta.score, 1.0));
    assert!(close(m.cell("delta", Fuse).unwrap().score, 1.0));
    // The hidden folder's newer, worse alpha/kv was never read.
    assert!(close(m.cell("alpha", Kv).unwrap().score, 2.0 / 3.0));
}

#[test]
fn the_newest_duplicate_wins_wherever_it_sits() {
    let dir = tempfile::tempdir().unwrap();
    let mut old = report(Some("m"), Kv, tally(1, 1));
    old.started_unix = 10;
    let mut new = report(Some("m"), Kv, tally(1, 0));
    new.started_unix = 20;
    put(dir.path(), "a/m/kv", &new);
    put(dir.path(), "b/m/kv", &old);
    let m = matrix(dir.path());
    assert!(close(m.cell("m", Kv).unwrap().score, 1.0));
    assert_eq!(m.problems.len(), 1);
    assert_eq!(m.problems[0].path, "b/m/kv/GRADE.json");

    put(dir.path(), "a/m/kv", &old);
    put(dir.path(), "b/m/kv", &new);
    let m = matrix(dir.path());
    assert!(close(m.cell("m", Kv).unwrap().score, 1.0));
    assert_eq!(m.problems[0].path, "a/m/kv/GRADE.json");
}

#[test]
fn a_prompt_change_makes_the_older_reports_stale() {
    let dir = tempfile::tempdir().unwrap();
    let mut old = report(Some("a"), Fuse, tally(1, 0));
    old.fingerprint.prompt_sha256 = "00".repeat(32);
    old.started_unix = 1;
    put(dir.path(), "a/fuse", &old);
    put(dir.path(), "b/fuse", &report(Some("b"), Fuse, tally(1, 0)));
    let m = matrix(dir.path());
    assert!(m.cell("a", Fuse).unwrap().stale);
    assert!(!m.cell("b", Fuse).unwrap().stale);
    assert_eq!(m.problems.len(), 1);
    assert!(m.problems[0].reason.contains("prompt sha256 000000000000"));
}

#[test]
fn a_root_without_reports_is_an_error_but_only_broken_ones_is_not() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        gather(&dir.path().join("nope"), &key()),
        Err(GatherError::Missing(_))
    ));
    std::fs::create_dir_all(dir.path().join("m/kv")).unwrap();
    std::fs::write(dir.path().join("m/kv/solution.py"), "x = 1\n").unwrap();
    assert!(matches!(
        gather(dir.path(), &key()),
        Err(GatherError::NoReports(_))
    ));
    assert!(matches!(
        gather(&dir.path().join("m/kv/solution.py"), &key()),
        Err(GatherError::NotAFolder(_))
    ));

    put_text(dir.path(), "m/kv", "");
    let m = matrix(dir.path());
    assert!(m.cells.is_empty() && m.models.is_empty());
    assert_eq!(m.problems.len(), 1);
    assert_eq!(m.problems[0].kind, ProblemKind::Malformed);
}

#[test]
fn markdown_has_the_table_ranking_failures_and_problems() {
    let (_dir, m) = scenario();
    let md = Format::Markdown.render(&m);
    for line in [
        "| challenge | difficulty | reference | gamma | alpha | beta | delta |",
        "| backwards | MEDIUM | 100% A | 100% A | 100% A | 100% A † | 100% A |",
        "| kv | MEDIUM | 100% A | 100% A | 66% C | 100% A | 100% A |",
        "| flash_attention_bwd | EXTRA HARD | 100% A | no answer | 0% F | no answer | no answer |",
        "| ternary_training | OPEN-ENDED RESEARCH | 100% A | no answer | 50% ERR | no answer | no answer |",
        "| **total** | | **100% A** | **62% C** | **61% C** | **37% F** | **37% F** |",
        "| **rank** | | — | 1 | 2 | 3 | 3 |",
        "1. **gamma** — 62% (C) over 8 of 8 challenges · strict 62% · 5/8 graded",
        "3. **delta** — 37% (F) over 8 of 8 challenges · strict 37% · 3/8 graded",
        "**alpha · flash_attention** — 60% C (1 skipped)",
        "- FAIL no_nxn (no_nxn title): peak 134217728 B ≥ 20% of N×N",
        "- SKIPPED gpu_speed (gpu_speed title): no GPU",
        "- **alpha · flash_attention**: explain_rescale",
        "- ERROR (harness) perplexity (perplexity title): python missing",
        "- broken/kv/GRADE.json — malformed: key must be a string at line 1 column 2",
    ] {
        assert!(
            md.lines().any(|l| l == line),
            "missing line {line:?} in\n{md}"
        );
    }
    let positions: Vec<_> = [
        "## Grade matrix",
        "### Ranking",
        "### Failing criteria",
        "### Needs review",
        "### Problems",
    ]
    .iter()
    .map(|h| md.find(h).unwrap_or_else(|| panic!("no {h}")))
    .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "section order");
    assert!(md.contains("a challenge without a report counts as 0"));
    assert!(!md.contains("<script>"), "report text is escaped");
    assert!(md.contains("\\<script\\>alert(1)\\</script\\>"));
}

#[test]
fn json_has_the_documented_shape_and_round_trips() {
    let (_dir, m) = scenario();
    let text = Format::Json.render(&m);
    assert_eq!(serde_json::from_str::<Matrix>(&text).unwrap(), m);

    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    for key in [
        "schema",
        "grade_scale",
        "models",
        "challenges",
        "cells",
        "totals",
        "problems",
    ] {
        assert!(keys.iter().any(|k| k == key), "no {key}");
    }
    assert_eq!(v["schema"], 1);
    assert_eq!(v["models"][2], "alpha");
    assert_eq!(v["challenges"][3]["id"], "beam_search");
    assert_eq!(v["challenges"][3]["difficulty"], "HARD");
    assert_eq!(
        v["grade_scale"][1],
        serde_json::json!({"grade": "B", "min_score": 0.75})
    );

    let cell = v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == "alpha" && c["challenge"] == "beam_search")
        .unwrap();
    assert_eq!(cell["score"], 0.5);
    assert_eq!(cell["grade"], "D");
    for (field, count) in [
        ("pass", 1),
        ("fail", 1),
        ("error", 0),
        ("skipped", 0),
        ("review", 0),
    ] {
        assert_eq!(cell[field], count, "{field}");
    }
    assert_eq!(cell["failing"][0]["id"], "eos_retention");
    assert_eq!(cell["failing"][0]["status"], "FAIL");
    assert_eq!(
        cell["failing"][0]["evidence"], XSS,
        "JSON keeps the text exactly"
    );

    let err = v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["grade"] == "ERR")
        .unwrap();
    assert_eq!(err["challenge"], "ternary_training");
    assert_eq!(v["totals"][0]["rank"], serde_json::Value::Null);
    assert_eq!(v["totals"][1]["rank"], 1);
    assert_eq!(v["problems"][0]["kind"], "stale");
}

#[test]
fn html_is_self_contained_has_stable_hooks_and_escapes_report_text() {
    let (_dir, m) = scenario();
    let html = Format::Html.render(&m);
    assert!(html.starts_with("<!DOCTYPE html>"));
    for external in ["http://", "https://", " src=", "<link", "@import", "url("] {
        assert!(!html.contains(external), "external reference {external}");
    }
    assert_eq!(html.matches("<script>").count(), 1, "only our own script");
    assert!(
        html.contains(
            "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot; &#39;too&#39;"
        )
    );

    for cell in &m.cells {
        let id = judge_report::html::cell_id(&cell.model, cell.challenge);
        let details = judge_report::html::criteria_id(&cell.model, cell.challenge);
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
        assert!(
            html.contains(&format!("<details class=\"criteria\" id=\"{details}\"")),
            "{details}"
        );
    }
    assert!(html.contains("<td class=\"cell empty\" id=\"cell-gamma-dflash_verify\""));
    assert!(html.contains("<td class=\"cell err\" id=\"cell-alpha-ternary_training\""));
    assert!(html.contains("data-grade=\"ERR\""));
    assert_eq!(
        html.matches("<tr class=\"criterion status-").count(),
        m.cells.iter().map(|c| c.criteria.len()).sum::<usize>()
    );
    assert!(html.contains("<li class=\"problem\"><code>out/alpha/fuse/GRADE.json</code>"));
}

#[test]
fn hostile_model_names_are_escaped_and_get_safe_ids() {
    let dir = tempfile::tempdir().unwrap();
    let name = "<img onerror=x>\"m\"";
    // A report sits in its model's folder, whatever that folder is called.
    put(
        dir.path(),
        &format!("{name}/kv"),
        &report(Some(name), Kv, tally(1, 0)),
    );
    let m = matrix(dir.path());
    let html = Format::Html.render(&m);
    assert!(!html.contains("<img"));
    assert!(html.contains("&lt;img onerror=x&gt;&quot;m&quot;"));
    assert!(html.contains("id=\"cell-~3Cimg~20onerror~3Dx~3E~22m~22-kv\""));
    let md = Format::Markdown.render(&m);
    assert!(md.contains("\\<img onerror=x\\>"), "{md}");
    let unescaped = md
        .match_indices('<')
        .filter(|(i, _)| !md[..*i].ends_with('\\'));
    assert_eq!(unescaped.count(), 0, "every < in the Markdown is escaped");
}

#[test]
fn a_report_without_a_model_goes_to_the_unnamed_column() {
    let dir = tempfile::tempdir().unwrap();
    // `judge grade --out` files it under `_`.
    put(dir.path(), "_/kv", &report(None, Kv, tally(1, 0)));
    let m = matrix(dir.path());
    assert_eq!(m.models, [judge_report::matrix::UNNAMED_MODEL]);
}

#[test]
fn formats_parse_from_their_names() {
    assert_eq!("md".parse(), Ok(Format::Markdown));
    assert_eq!("json".parse(), Ok(Format::Json));
    assert_eq!("html".parse(), Ok(Format::Html));
    assert!("pdf".parse::<Format>().is_err());
}

/// A correct answer on a machine without a GPU: its fuse cell did not run, its flash_attention
/// cell ran all but one criterion, and two challenges have no answer.
fn partly_run(root: &std::path::Path) {
    let no_gpu = || judge_core::Verdict::skipped("no NVIDIA GPU (driver not found)");
    let put_cell = |id: ChallengeId, criteria| {
        support::put(
            root,
            &format!("m/{id}"),
            &support::report(Some("m"), id, criteria),
        );
    };
    put_cell(Backwards, support::tally(3, 0));
    put_cell(
        Fuse,
        vec![
            support::auto("speed", 1, no_gpu()),
            support::auto("matches", 2, no_gpu()),
        ],
    );
    let mut flash = support::tally(3, 0);
    flash.push(support::auto("gpu_speed", 1, no_gpu()));
    put_cell(FlashAttention, flash);
    for id in [Kv, BeamSearch, DflashVerify] {
        put_cell(id, support::tally(4, 0));
    }
    // Perfect on the one challenge it answered: ranked below `m`, which answered six.
    support::put(
        root,
        "few/backwards",
        &support::report(Some("few"), Backwards, support::tally(2, 0)),
    );
}

#[test]
fn cells_that_did_not_run_say_so_and_totals_say_what_they_are_over() {
    let dir = tempfile::tempdir().unwrap();
    partly_run(dir.path());
    let m = support::matrix_scored(dir.path(), &[], false, false);
    let fuse = m.cell("m", Fuse).unwrap();
    assert_eq!(
        fuse.not_run.as_deref(),
        Some("no NVIDIA GPU (driver not found)")
    );
    assert_eq!(fuse.strict_score, 0.0, "a skip is never a pass");
    let flash = m.cell("m", FlashAttention).unwrap();
    assert!(close(flash.score, 1.0) && close(flash.strict_score, 0.75));
    let total = m.total("m").unwrap();
    assert_eq!(
        total.over, 5,
        "fuse did not run; two challenges have no answer"
    );
    assert!(close(total.score, 1.0));
    assert!(close(total.strict_score, 4.75 / 8.0));
    assert_eq!(m.models, ["m", "few"], "ranked by the strict total");
    assert_eq!(m.total("few").unwrap().rank, Some(2));

    let md = Format::Markdown.render(&m);
    for line in [
        "| fuse | MEDIUM | not run: no NVIDIA GPU (driver not found) | no answer |",
        "| flash_attention | HARD | 100% A (1 skipped) | no answer |",
        "| flash_attention_bwd | EXTRA HARD | no answer | no answer |",
        "| **total** | | **100% A over 5** | **100% A over 1** |",
        "1. **m** — 100% (A) over 5 of 8 challenges · strict 59% · 6/8 graded",
        "2. **few** — 100% (A) over 1 of 8 challenges · strict 12% · 1/8 graded",
    ] {
        assert!(md.lines().any(|l| l == line), "missing {line:?} in\n{md}");
    }
    assert!(md.contains("Totals are the mean over the challenges that ran"));
    assert!(
        !md.contains("SKIPPED gpu_speed"),
        "a skip is no failing criterion when scored over what ran:\n{md}"
    );
    assert!(md.contains("Built by judge ") && md.contains("seeds 42"));
    let html = Format::Html.render(&m);
    assert!(html.contains("class=\"cell not-run\""), "{html}");
    assert!(html.contains("<span class=\"pct\">no answer</span>"));
    assert!(html.contains("id=\"provenance\""));

    // --strict keeps the leaderboard arithmetic: skips fail, every challenge counts.
    let strict = support::matrix_scored(dir.path(), &[], false, true);
    let total = strict.total("m").unwrap();
    assert_eq!(total.over, 8);
    assert!(close(total.score, 4.75 / 8.0));
    assert_eq!(strict.cell("m", Fuse).unwrap().not_run, None);
    let md = Format::Markdown.render(&strict);
    assert!(
        md.lines()
            .any(|l| l == "| fuse | MEDIUM | 0% F (2 skipped) | no answer |"),
        "{md}"
    );
}

#[test]
fn contract_errors_and_adapters_are_marked_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let mut criteria = tally(1, 1);
    criteria.push(support::auto(
        "call",
        1,
        judge_core::Verdict::contract_error("expected f(a, b); found f(model, a, b)"),
    ));
    let mut adapted = report(Some("legacy"), Kv, criteria);
    adapted.submission.as_mut().unwrap().adapter = Some(judge_core::AdapterInfo {
        path: "judge_adapter.py".into(),
        sha256: "ab".repeat(32),
    });
    put(dir.path(), "legacy/kv", &adapted);
    put(
        dir.path(),
        "plain/kv",
        &report(Some("plain"), Kv, tally(2, 1)),
    );
    let m = matrix(dir.path());
    let cell = m.cell("legacy", Kv).expect("legacy kv");
    assert_eq!(cell.contract_faults, 1);
    assert!(cell.adapter.is_some());
    let plain = m.cell("plain", Kv).expect("plain kv");
    assert_eq!((plain.contract_faults, plain.adapter.is_some()), (0, false));

    let md = Format::Markdown.render(&m);
    assert!(md.contains("C! (via adapter)"), "{md}");
    assert!(md.contains("C! = interface not followed"), "{md}");
    assert!(
        md.contains("ERROR C! (interface not followed) call"),
        "{md}"
    );
    let html = Format::Html.render(&m);
    assert!(html.contains("cell contract adapter"), "{html}");
    assert!(html.contains("via adapter judge_adapter.py"), "{html}");
    assert!(
        html.contains("criterion status-ERROR contract\" title=\"interface not followed\""),
        "{html}"
    );
    let json: serde_json::Value = serde_json::from_str(&Format::Json.render(&m)).unwrap();
    let cells = json["cells"].as_array().unwrap();
    let legacy = cells.iter().find(|c| c["model"] == "legacy").unwrap();
    assert_eq!(legacy["contract_faults"], 1);
    assert_eq!(legacy["adapter"]["path"], "judge_adapter.py");
    let plain = cells.iter().find(|c| c["model"] == "plain").unwrap();
    assert!(plain.get("adapter").is_none() && plain.get("contract_faults").is_none());
}
