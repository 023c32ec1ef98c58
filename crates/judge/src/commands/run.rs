//! `judge run -n MODEL --endpoint URL`: scaffold the model folder(s), ask the model each
//! selected challenge's prompt, write the files of its reply, grade them, print the matrix.
//!
//! Layout: sample 1 of MODEL is `MODEL/<challenge>/`, sample k ≥ 2 is `MODEL@k/<challenge>/`
//! (see `judge_report::passk`). Each answer folder holds PROMPT.md, the reply's files,
//! `transcript.json` and GRADE.json, so `judge grade`, `--shard` and `judge report` work on it
//! unchanged. A sample with a transcript is answered: a second run asks only for the others
//! (`--force` asks again).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use judge_core::ReportFile;
use judge_core::discover::SubmissionDir;
use judge_core::report::REPORT_FILE_NAME;
use judge_core::signing::ReportKey;
use judge_core::{
    Challenge, ChallengeId, Criterion, GradeContext, Graded, Report, Scorecard, Verdict,
};
use judge_llm::reply::sanitise_name;
use judge_llm::transcript::TRANSCRIPT_SCHEMA;
use judge_llm::{
    ChatRequest, Client, ClientError, Message, RetryPolicy, TRANSCRIPT_FILE_NAME, Transcript,
    Usage, extract_files,
};
use judge_report::gather::FoundReport;
use judge_report::passk::sample_folder;
use judge_report::{Checks, Format, Gathered, Matrix};
use judge_scaffold::{ScaffoldOptions, scaffold};

use super::output::progress;
use crate::cli::{EndpointArgs, GradeArgs, ModelRunArgs, RunArgs};
use crate::registry;

/// The client for `endpoint`, with the key read from the variable it names.
pub(super) fn client(endpoint: &EndpointArgs) -> anyhow::Result<Client> {
    let api_key = match &endpoint.api_key_env {
        Some(var) => match std::env::var(var) {
            Ok(key) if !key.trim().is_empty() => Some(key.trim().to_string()),
            _ => anyhow::bail!("--api-key-env {var}: the environment variable {var} is not set"),
        },
        None => None,
    };
    Ok(Client::new(
        &endpoint.endpoint,
        api_key,
        Duration::from_secs(endpoint.timeout),
        RetryPolicy {
            attempts: endpoint.tries,
            ..RetryPolicy::default()
        },
    ))
}

/// One answer to obtain and grade.
struct Job {
    challenge: ChallengeId,
    sample: u32,
    sub: SubmissionDir,
}

impl Job {
    fn label(&self) -> String {
        self.sub.label()
    }
}

/// What the run learnt, shared between the workers.
#[derive(Default)]
struct Tally {
    requested: AtomicUsize,
    resumed: AtomicUsize,
    usage: Mutex<Usage>,
    /// The first failure that stops the run (bad URL, bad key).
    fatal: Mutex<Option<String>>,
    stop: AtomicBool,
}

pub fn run(args: ModelRunArgs) -> anyhow::Result<i32> {
    judge_scaffold::validate_model_name(&args.model)?;
    let client = client(&args.endpoint)?;
    let system = match &args.system {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("--system {}", path.display()))?,
        ),
        None => None,
    };
    let root = match &args.root {
        Some(root) => root.clone(),
        None => std::env::current_dir()?,
    };
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let root = std::fs::canonicalize(&root)?;

    let selected: Vec<ChallengeId> = ChallengeId::ALL
        .into_iter()
        .filter(|id| args.only.as_ref().is_none_or(|only| only.contains(id)))
        .collect();
    let (gradable, no_grader): (Vec<_>, Vec<_>) = selected
        .into_iter()
        .partition(|id| registry::grader(*id).is_some());
    for id in &no_grader {
        eprintln!("warning: no grader for '{id}' yet, not asked");
    }
    if gradable.is_empty() {
        eprintln!("error: no selected challenge has a grader");
        return Ok(judge_core::exit::USAGE_OR_ENVIRONMENT);
    }

    let mut jobs = Vec::new();
    for sample in 1..=args.samples {
        let folder = sample_folder(&args.model, sample);
        let options = ScaffoldOptions {
            root: root.clone(),
            model: folder.clone(),
            train_data: args.train_data.clone(),
            only: Some(gradable.clone()),
            add: root.join(&folder).is_dir(),
            ..ScaffoldOptions::default()
        };
        if let Err(error) = scaffold(&options, &mut std::io::sink()) {
            eprintln!("error: {error}");
            return Ok(error.exit_code());
        }
        for &challenge in &gradable {
            jobs.push(Job {
                challenge,
                sample,
                sub: SubmissionDir {
                    model: Some(folder.clone()),
                    challenge,
                    dir: root.join(&folder).join(challenge.as_str()),
                },
            });
        }
    }

    let grade_args = GradeArgs {
        path: root.clone(),
        run: RunArgs {
            seed: args.seed,
            timeout: args.grade_timeout,
            memory_gib: args.memory_gib,
            train_data: args.train_data.clone(),
            json: false,
            quiet: args.quiet,
            key: args.key.clone(),
        },
        out: None,
        adapter: None,
        entry: None,
        jobs: 1,
        shard: None,
        force: false,
    };
    let ctx = super::context(&grade_args.run);
    let key = super::report_key(args.key.as_deref())?;
    let model_id = args.model_id.clone().unwrap_or_else(|| args.model.clone());
    let asker = Asker {
        client: &client,
        model_id: &model_id,
        system: system.as_deref(),
        args: &args,
        key: &key,
    };

    let bar = progress(jobs.len(), args.quiet);
    let tally = Tally::default();
    let queue = Mutex::new(jobs.iter().enumerate());
    let results: Mutex<Vec<(usize, FoundReport)>> = Mutex::new(Vec::new());
    let write_failures = AtomicUsize::new(0);
    let total = jobs.len();
    std::thread::scope(|scope| {
        for _ in 0..args.concurrency.min(jobs.len()) {
            scope.spawn(|| {
                loop {
                    if tally.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let next = queue.lock().expect("queue lock").next();
                    let Some((index, job)) = next else { break };
                    let say = |message: &str| {
                        bar.suspend(|| eprintln!("{}: {message}", job.label()));
                    };
                    let Some(report) = asker.answer_and_grade(job, &grade_args, &ctx, &tally, &say)
                    else {
                        tally.stop.store(true, Ordering::SeqCst);
                        break;
                    };
                    bar.set_message(format!(
                        "requested {}/{total}",
                        tally.requested.load(Ordering::SeqCst)
                            + tally.resumed.load(Ordering::SeqCst)
                    ));
                    if let Err(e) = report.write_atomic(&job.sub.dir.join(REPORT_FILE_NAME)) {
                        say(&format!("error: {e}"));
                        write_failures.fetch_add(1, Ordering::SeqCst);
                    }
                    let path = format!(
                        "{}/{}/{REPORT_FILE_NAME}",
                        sample_folder(&args.model, job.sample),
                        job.challenge
                    );
                    let verified = key.verify(&report);
                    results.lock().expect("results lock").push((
                        index,
                        FoundReport {
                            path,
                            report,
                            verified,
                        },
                    ));
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();

    if let Some(message) = tally.fatal.into_inner().expect("threads joined") {
        eprintln!("error: {message}");
        eprintln!("stopped: no further request was sent");
        return Ok(judge_core::exit::USAGE_OR_ENVIRONMENT);
    }
    let mut results = results.into_inner().expect("threads joined");
    results.sort_by_key(|(index, _)| *index);
    let found: Vec<FoundReport> = results.into_iter().map(|(_, f)| f).collect();
    let code = judge_core::exit::for_reports(found.iter().map(|f| &f.report));
    let graders = super::report::registered_graders();
    let checks = Checks {
        key: &key,
        graders: &graders,
        accept_unsigned: false,
        strict: false,
    };
    let matrix = Matrix::build(
        Gathered {
            reports: found,
            problems: Vec::new(),
        },
        &checks,
    );
    out!("{}", Format::Markdown.render(&matrix));
    let usage = tally.usage.into_inner().expect("threads joined");
    outln!(
        "\ntokens: {} request(s) answered in this run, {} sample(s) resumed from their transcript; \
         this run: prompt {}, completion {}, total {}",
        tally.requested.into_inner(),
        tally.resumed.into_inner(),
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.total_tokens
    );
    if write_failures.into_inner() > 0 {
        return Ok(judge_core::exit::USAGE_OR_ENVIRONMENT);
    }
    Ok(code)
}

/// What every worker needs to ask the model.
struct Asker<'a> {
    client: &'a Client,
    model_id: &'a str,
    system: Option<&'a str>,
    args: &'a ModelRunArgs,
    /// Signs every report this run writes.
    key: &'a ReportKey,
}

impl Asker<'_> {
    /// The graded report of one sample: its transcript reused or a fresh request, then the
    /// grade. `None` when the run must stop (the failure is in `tally.fatal`).
    fn answer_and_grade(
        &self,
        job: &Job,
        grade_args: &GradeArgs,
        ctx: &GradeContext,
        tally: &Tally,
        say: &dyn Fn(&str),
    ) -> Option<Report> {
        let grader = registry::grader(job.challenge).expect("only challenges with a grader");
        let transcript_path = job.sub.dir.join(TRANSCRIPT_FILE_NAME);
        let previous = match Transcript::read(&transcript_path) {
            Ok(transcript) => Some(transcript),
            Err(judge_llm::transcript::TranscriptError::Read(e)) if e.is_not_found() => None,
            Err(e) => {
                say(&format!("{e}; asking again"));
                None
            }
        };
        let transcript = match previous {
            Some(transcript) if !self.args.force => {
                tally.resumed.fetch_add(1, Ordering::SeqCst);
                tracing::info!("{}: answered already, not asked again", job.label());
                transcript
            }
            previous => match self.ask(job, previous.as_ref(), say) {
                Ok(transcript) => {
                    tally.requested.fetch_add(1, Ordering::SeqCst);
                    tally
                        .usage
                        .lock()
                        .expect("usage lock")
                        .add(transcript.usage);
                    transcript
                }
                Err(ClientError::Fatal(message)) => {
                    tally
                        .fatal
                        .lock()
                        .expect("fatal lock")
                        .get_or_insert(message);
                    return None;
                }
                Err(failed) => {
                    say(&format!("no reply: {failed}"));
                    let verdict =
                        Verdict::harness_error(format!("the endpoint gave no reply: {failed}"));
                    let mut report = unanswered(grader.as_ref(), job, ctx, verdict);
                    self.key.sign(&mut report);
                    return Some(report);
                }
            },
        };
        let mut report = if transcript.files.is_empty() {
            unanswered(
                grader.as_ref(),
                job,
                ctx,
                Verdict::error("no files found in the reply"),
            )
        } else {
            // In a child judge process, as `judge grade` does: a crash there is this
            // answer's ERROR, not the end of the run.
            // `judge run` installs no interrupt handler, so a report always comes back.
            super::cell::grade_in_child(&job.sub, grade_args, ctx, self.key).unwrap_or_else(|| {
                unanswered(
                    grader.as_ref(),
                    job,
                    ctx,
                    Verdict::harness_error("grading was interrupted"),
                )
            })
        };
        if transcript.cut_by_max_tokens {
            let note =
                "the reply was cut at max_tokens (finish_reason \"length\"); graded as it was"
                    .to_string();
            if !report.notes.contains(&note) {
                say(&note);
                report.notes.push(note);
            }
        }
        for rejected in &transcript.rejected {
            let note = format!(
                "reply file {:?} not written: {}",
                rejected.name, rejected.reason
            );
            if !report.notes.contains(&note) {
                report.notes.push(note);
            }
        }
        // Signed last: the notes above are part of what the signature covers.
        self.key.sign(&mut report);
        Some(report)
    }

    /// Requests one answer, writes its files and then its transcript.
    fn ask(
        &self,
        job: &Job,
        previous: Option<&Transcript>,
        say: &dyn Fn(&str),
    ) -> Result<Transcript, ClientError> {
        let mut messages = Vec::new();
        if let Some(system) = self.system {
            messages.push(Message::system(system));
        }
        messages.push(Message::user(judge_scaffold::prompts::prompt_markdown(
            job.challenge,
            false,
        )));
        let request = ChatRequest {
            model: self.model_id.to_string(),
            messages,
            temperature: self.args.temperature,
            max_tokens: self.args.endpoint.max_tokens,
        };
        let started_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let exchange = self.client.complete(&request, &|reason, wait| {
            say(&format!("{reason}; retrying in {:.1}s", wait.as_secs_f64()))
        })?;
        let extracted = extract_files(exchange.response.content());
        if let Some(previous) = previous {
            remove_files(&job.sub.dir, &previous.files);
        }
        let mut written = Vec::new();
        let mut rejected = extracted.rejected.clone();
        for file in &extracted.files {
            match write_new(&job.sub.dir, &file.name, file.content.as_bytes()) {
                Ok(()) => written.push(file.name.clone()),
                Err(e) => rejected.push(judge_llm::reply::Rejected {
                    name: file.name.clone(),
                    reason: format!("cannot be written: {e}"),
                }),
            }
        }
        let transcript = Transcript {
            schema: TRANSCRIPT_SCHEMA,
            endpoint: self.client.url().to_string(),
            request,
            finish_reason: exchange.response.finish_reason().map(str::to_string),
            cut_by_max_tokens: exchange.response.was_cut(),
            usage: exchange.response.usage.unwrap_or_default(),
            latency_seconds: exchange.latency,
            attempts: exchange.attempts,
            started_unix,
            files: written,
            rejected,
            unnamed_blocks: extracted.unnamed_blocks,
            raw_reply: exchange.raw,
        };
        if let Err(e) = transcript.write_atomic(&job.sub.dir.join(TRANSCRIPT_FILE_NAME)) {
            // The answer is graded all the same; only resuming will ask again.
            say(&format!("warning: {e}"));
        }
        Ok(transcript)
    }
}

/// Writes `dir/name`, replacing a file of that name but never writing through a link.
fn write_new(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let path: PathBuf = dir.join(name);
    if path.symlink_metadata().is_ok() {
        std::fs::remove_file(&path)?;
    }
    let mut file = judge_core::untrusted_fs::create_new(dir, name, 0o644)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Removes the files an earlier answer wrote (before a `--force` answer replaces it).
fn remove_files(dir: &Path, names: &[String]) {
    for name in names.iter().filter(|n| sanitise_name(n).is_ok()) {
        let _ = std::fs::remove_file(dir.join(name));
    }
}

/// A grader that gives every criterion one verdict: an answer that cannot be graded (no files
/// in the reply, no reply at all) still gets a complete GRADE.json with the grader's criteria.
struct Unanswered<'a> {
    grader: &'a dyn Challenge,
    verdict: Verdict,
}

impl Challenge for Unanswered<'_> {
    fn id(&self) -> ChallengeId {
        self.grader.id()
    }
    fn version(&self) -> &'static str {
        self.grader.version()
    }
    fn criteria(&self) -> Vec<Criterion> {
        self.grader.criteria()
    }
    fn grade_reference(&self, _: &GradeContext) -> Graded {
        self.all_one_verdict()
    }
    fn grade_submission(&self, _: &Path, _: &GradeContext) -> Graded {
        self.all_one_verdict()
    }
}

impl Unanswered<'_> {
    fn all_one_verdict(&self) -> Graded {
        let mut card = Scorecard::new(&self.criteria());
        card.decide_remaining(None, &self.verdict);
        Graded {
            results: card.finish(self.verdict.detail()),
            ..Graded::default()
        }
    }
}

fn unanswered(grader: &dyn Challenge, job: &Job, ctx: &GradeContext, verdict: Verdict) -> Report {
    let prompt = super::output::prompt_sha256(job.challenge);
    judge_core::session::grade_submission(&Unanswered { grader, verdict }, &job.sub, &prompt, ctx)
}
