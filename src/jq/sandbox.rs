//! Running expressions with bounds: plain paths in process, everything else in a pool of child
//! processes (`hookline jq-sandbox`), each serving one request at a time.
//!
//! jaq cannot be interrupted, and an expression may loop forever, allocate without end or
//! recurse until the stack overflows (which aborts a process). So a child that overruns its
//! time is killed (SIGKILL) and replaced, a child that dies is replaced, and the server never
//! waits without bound: a request finds a free child within a short wait or is answered
//! [`RunError::Busy`].

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Semaphore;

use super::Program;
use super::frame::{self, Answer, Request};

/// The sandbox's settings.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// The hookline executable, started as `<exe> jq-sandbox`.
    pub exe: PathBuf,
    /// Children at most (each runs one evaluation at a time).
    pub workers: usize,
    /// Address space each child may map beyond what it maps when it starts.
    pub memory_mb: u64,
    /// The bounds of an evaluation unless a caller asks for others.
    pub limits: Limits,
}

impl SandboxConfig {
    /// This executable, one child per core (at least 2), 512 MiB each; 100 ms and 1 MiB of
    /// output per evaluation.
    pub fn new() -> SandboxConfig {
        SandboxConfig {
            exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("hookline")),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()).max(2),
            memory_mb: 512,
            limits: Limits {
                timeout: Duration::from_millis(100),
                max_outputs: 100,
                max_output_bytes: 1024 * 1024,
            },
        }
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig::new()
    }
}

/// Bounds of one evaluation.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub timeout: Duration,
    /// Outputs kept; evaluation stops after this many.
    pub max_outputs: usize,
    /// Total JSON length of the outputs.
    pub max_output_bytes: usize,
}

/// Why an evaluation gave no outputs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The expression raised an error.
    #[error("{0}")]
    Failed(String),
    #[error("the evaluation took longer than {} ms and was stopped", .0.as_millis())]
    Timeout(Duration),
    /// Its outputs passed the byte bound.
    #[error("{0}")]
    TooLarge(String),
    #[error("the evaluation was stopped: it ran out of memory or stack")]
    Crashed,
    #[error("every jq evaluator is busy; try again")]
    Busy,
    /// No child could be started (a server problem, logged).
    #[error("the jq evaluator cannot start")]
    Unavailable,
}

impl RunError {
    /// The outcome label of the metric, and of the API's error `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            RunError::Failed(_) => "failed",
            RunError::Timeout(_) => "timeout",
            RunError::TooLarge(_) => "too_large",
            RunError::Crashed => "crashed",
            RunError::Busy => "busy",
            RunError::Unavailable => "unavailable",
        }
    }
}

/// How long a request waits for a free child before it is answered `Busy`.
const QUEUE_WAIT: Duration = Duration::from_secs(2);
/// Requests waiting at once per child before more are answered `Busy` without waiting.
const WAITING_PER_WORKER: usize = 1_024;
/// How long a new child may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Room in an answer frame beside the outputs (the envelope, an error message).
const FRAME_SLACK: usize = 64 * 1024;

/// The pool. Cheap to clone.
#[derive(Clone)]
pub struct Sandbox(Arc<Inner>);

struct Inner {
    config: SandboxConfig,
    idle: Mutex<Vec<Worker>>,
    /// One permit per child that may run.
    slots: Semaphore,
    /// Bounds the requests waiting for a slot.
    waiting: Semaphore,
}

/// A running child; killed when dropped.
struct Worker {
    _child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

impl Sandbox {
    /// A pool; children start when first needed.
    pub fn new(config: SandboxConfig) -> Sandbox {
        let workers = config.workers.max(1);
        Sandbox(Arc::new(Inner {
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(workers),
            waiting: Semaphore::new(workers * WAITING_PER_WORKER),
            config,
        }))
    }

    /// The configured bounds, keeping at most `max_outputs` outputs.
    pub fn limits(&self, max_outputs: usize) -> Limits {
        Limits {
            max_outputs,
            ..self.0.config.limits
        }
    }

    /// Evaluate `program` on `input` within `limits`.
    pub async fn run(&self, program: &Program, input: &Value, limits: Limits) -> Result<Vec<Value>, RunError> {
        let started = Instant::now();
        let result = match program.fast_path() {
            Some(path) => fast(path, input, limits),
            None => self.in_child(program, input, limits).await,
        };
        let outcome = result.as_ref().map_or_else(RunError::kind, |_| "ok");
        metrics::counter!("jq_evaluations_total", "outcome" => outcome).increment(1);
        metrics::histogram!("jq_evaluation_duration_seconds").record(started.elapsed().as_secs_f64());
        result
    }

    async fn in_child(&self, program: &Program, input: &Value, limits: Limits) -> Result<Vec<Value>, RunError> {
        let _waiting = self.0.waiting.try_acquire().map_err(|_| RunError::Busy)?;
        let _slot = match tokio::time::timeout(QUEUE_WAIT, self.0.slots.acquire()).await {
            Ok(Ok(permit)) => permit,
            _ => return Err(RunError::Busy),
        };
        let request = Request {
            program: program.source(),
            input,
            max_outputs: limits.max_outputs,
            max_output_bytes: limits.max_output_bytes,
        };
        let request =
            serde_json::to_vec(&request).map_err(|e| RunError::Failed(format!("the input cannot be sent: {e}")))?;
        let mut worker = match self.take_idle() {
            Some(w) => w,
            None => self.start().await?,
        };
        let max = limits.max_output_bytes.saturating_add(FRAME_SLACK);
        match tokio::time::timeout(limits.timeout, worker.exchange(&request, max)).await {
            Ok(Ok(answer)) => {
                self.put_idle(worker);
                answer
            }
            // Dropping the worker kills its child; the next request starts another.
            Ok(Err(_)) => Err(RunError::Crashed),
            Err(_) => Err(RunError::Timeout(limits.timeout)),
        }
    }

    fn take_idle(&self) -> Option<Worker> {
        self.0.idle.lock().ok()?.pop()
    }

    fn put_idle(&self, worker: Worker) {
        if let Ok(mut idle) = self.0.idle.lock() {
            idle.push(worker);
        }
    }

    async fn start(&self) -> Result<Worker, RunError> {
        let c = &self.0.config;
        // No environment (it may hold the database URL or the master key), no working
        // directory of interest, no stderr (a panic message could quote event data).
        let mut child = Command::new(&c.exe)
            .arg("jq-sandbox")
            .arg("--memory-mb")
            .arg(c.memory_mb.to_string())
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| unavailable(&c.exe, e))?;
        let (Some(stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(RunError::Unavailable);
        };
        match tokio::time::timeout(START_TIMEOUT, frame::read(&mut stdout, 64)).await {
            Ok(Ok(hello)) if hello == super::child::READY => Ok(Worker {
                _child: child,
                stdin,
                stdout,
            }),
            Ok(Ok(_)) => Err(unavailable(&c.exe, "it did not answer as a sandbox")),
            Ok(Err(e)) => Err(unavailable(&c.exe, e)),
            Err(_) => Err(unavailable(&c.exe, "it did not start in time")),
        }
    }
}

fn unavailable(exe: &std::path::Path, why: impl std::fmt::Display) -> RunError {
    tracing::error!(exe = %exe.display(), error = %why, "cannot start the jq sandbox");
    RunError::Unavailable
}

impl Worker {
    async fn exchange(&mut self, request: &[u8], max: usize) -> std::io::Result<Result<Vec<Value>, RunError>> {
        self.stdin.write_all(&frame::encode(request)).await?;
        self.stdin.flush().await?;
        let body = frame::read(&mut self.stdout, max).await?;
        let answer: Answer =
            serde_json::from_slice(&body).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        Ok(match answer {
            Answer::Outputs(outputs) => Ok(outputs),
            Answer::Error(m) => Err(RunError::Failed(m)),
            Answer::TooLarge(m) => Err(RunError::TooLarge(m)),
        })
    }
}

/// A plain path, natively.
fn fast(path: &super::fast::Path, input: &Value, limits: Limits) -> Result<Vec<Value>, RunError> {
    let out = path.eval(input).map_err(RunError::Failed)?;
    let len = serde_json::to_vec(&out).map_or(usize::MAX, |b| b.len());
    if len > limits.max_output_bytes {
        return Err(RunError::TooLarge(format!(
            "output exceeds {} bytes",
            limits.max_output_bytes
        )));
    }
    Ok(if limits.max_outputs == 0 { Vec::new() } else { vec![out] })
}
