//! Parser isolation: every untrusted document is parsed by a child process — `ragd` itself,
//! re-executed as `ragd __parse-worker` — under `setrlimit` limits on address space, CPU time,
//! open files and written files, with a wall-clock deadline, an empty environment (no secrets)
//! and a bounded number of workers at once.
//!
//! Why a process and not `catch_unwind`: a PDF whose form XObject draws itself made
//! `pdf-extract` recurse until the stack overflowed, and a stack overflow (like an allocation
//! failure) aborts the whole process — one 834-byte upload killed the server, and its re-queued
//! job killed it again at every start. In a worker it kills the worker; the file gets a clear
//! per-file error and the server keeps serving. The next parser bug is contained the same way.
//!
//! Protocol: the parent writes a little-endian `u32` name length, the name (it picks the
//! format and names the file in errors) and the document's bytes, then closes stdin; the worker
//! answers one JSON [`Reply`] on stdout and exits 0. Anything else — a signal, another exit
//! code, no reply — is read from the exit status and the end of stderr.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitCode, ExitStatus, Stdio};
use std::time::Duration;

use async_trait::async_trait;
use ragd_core::ports::Extractor;
use ragd_core::types::{Extracted, TextFormat};
use ragd_core::{Error, Result};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use super::FileExtractor;

/// The first argument that makes `ragd` run as a parser worker.
pub const PARSER_WORKER_ARG: &str = "__parse-worker";

/// The MIME types the loaders report (a reply with another one is refused).
const MIME_TYPES: [&str; 5] = [
    "text/plain",
    "text/markdown",
    "text/html",
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
];

/// How much of the worker's stderr is kept to explain a crash.
const STDERR_TAIL_BYTES: usize = 8 * 1024;

/// Limits of one parser worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParserLimits {
    /// Address space of the worker (`RLIMIT_AS`), which bounds what a decompression bomb can
    /// inflate to.
    pub memory_bytes: u64,
    /// CPU seconds (`RLIMIT_CPU`) and wall-clock seconds the worker may take.
    pub time: Duration,
    /// Workers that may run at once (more wait for a slot).
    pub workers: usize,
}

impl Default for ParserLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 1024 * 1024 * 1024,
            time: Duration::from_secs(60),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// Where documents are parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParserIsolation {
    /// In this process, on a blocking thread: only for tests and trusted inputs, since a parser
    /// crash takes the process with it.
    InProcess,
    /// In a sandboxed child process per document (the default of `ragd serve` and the CLI).
    Process {
        /// The `ragd` binary to run as the worker.
        program: PathBuf,
        /// Its limits.
        limits: ParserLimits,
    },
}

impl ParserIsolation {
    /// The extractor this isolation asks for.
    pub fn extractor(&self) -> std::sync::Arc<dyn Extractor> {
        match self {
            Self::InProcess => std::sync::Arc::new(FileExtractor),
            Self::Process { program, limits } => {
                std::sync::Arc::new(SandboxedExtractor::new(program.clone(), *limits))
            }
        }
    }
}

/// The extracted text as it crosses the pipe.
#[derive(Debug, Serialize, Deserialize)]
struct WireExtracted {
    text: String,
    title: Option<String>,
    mime: String,
    format: TextFormat,
    page_starts: Vec<usize>,
}

/// The worker's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Reply {
    /// The parser read the document.
    Extracted(WireExtracted),
    /// The parser refused it; the message names the file and the reason.
    Invalid(String),
}

/// Extracts text in sandboxed child processes (see the module docs).
pub struct SandboxedExtractor {
    program: PathBuf,
    limits: ParserLimits,
    slots: Semaphore,
}

impl SandboxedExtractor {
    /// Runs workers as `program __parse-worker` (normally `std::env::current_exe()`).
    pub fn new(program: PathBuf, limits: ParserLimits) -> Self {
        Self {
            program,
            slots: Semaphore::new(limits.workers.max(1)),
            limits,
        }
    }

    fn explain(&self, status: ExitStatus, stderr: &str) -> String {
        let memory_mib = self.limits.memory_bytes / (1024 * 1024);
        let secs = self.limits.time.as_secs();
        if stderr.contains("has overflowed its stack") {
            return "the document nests too deeply (the parser overflowed its stack)".into();
        }
        if stderr.contains("memory allocation of") {
            return format!("the parser needed more than its {memory_mib} MiB memory limit");
        }
        match (status.signal(), status.code()) {
            (Some(24), _) => format!("the parser used more than its {secs} s of CPU time"),
            (Some(9), _) => {
                format!("the parser was killed (over {secs} s of CPU or {memory_mib} MiB)")
            }
            (Some(signal), _) => format!("the parser crashed (signal {signal})"),
            (None, Some(code)) => format!("the parser failed (exit status {code})"),
            (None, None) => "the parser failed".into(),
        }
    }

    async fn run(&self, name: &str, bytes: Vec<u8>) -> Result<Reply> {
        let mut child = tokio::process::Command::new(&self.program)
            .arg(PARSER_WORKER_ARG)
            .arg(self.limits.memory_bytes.to_string())
            .arg(self.limits.time.as_secs().max(1).to_string())
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                Error::Unavailable(format!(
                    "cannot start the parser process {}: {e}",
                    self.program.display()
                ))
            })?;
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(Error::internal("the parser process has no pipes"));
        };
        let name_len = u32::try_from(name.len()).map_err(Error::internal)?;
        let mut header = name_len.to_le_bytes().to_vec();
        header.extend_from_slice(name.as_bytes());
        let write = async move {
            // A worker that dies while reading closes the pipe: its exit status says why.
            if stdin.write_all(&header).await.is_ok() {
                let _ = stdin.write_all(&bytes).await;
            }
            drop(stdin);
        };
        let work = async {
            let ((), out, err) = tokio::join!(write, read_all(stdout), read_tail(stderr));
            (child.wait().await, out, err)
        };
        let Ok((status, out, err)) = tokio::time::timeout(self.limits.time, work).await else {
            let _ = child.kill().await;
            return Ok(Reply::Invalid(format!(
                "{name}: the parser took longer than {} s",
                self.limits.time.as_secs()
            )));
        };
        let status = status.map_err(Error::internal)?;
        let stderr = String::from_utf8_lossy(&err);
        if status.success()
            && let Ok(reply) = serde_json::from_slice::<Reply>(&out)
        {
            return Ok(reply);
        }
        let reason = self.explain(status, &stderr);
        tracing::warn!(source = name, %status, reason, stderr = %stderr.trim(), "a document parser failed");
        Ok(Reply::Invalid(format!("{name}: {reason}")))
    }
}

async fn read_all(mut pipe: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = pipe.read_to_end(&mut out).await;
    out
}

/// Reads a pipe to its end (so the writer never blocks on it), keeping the last bytes.
async fn read_tail(mut pipe: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut tail = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > STDERR_TAIL_BYTES {
            tail.drain(..tail.len() - STDERR_TAIL_BYTES);
        }
    }
    tail
}

#[async_trait]
impl Extractor for SandboxedExtractor {
    async fn extract(&self, name: &str, bytes: Vec<u8>) -> Result<Extracted> {
        let _slot = self.slots.acquire().await.map_err(Error::internal)?;
        match self.run(name, bytes).await? {
            Reply::Invalid(reason) => Err(Error::Invalid(reason)),
            Reply::Extracted(wire) => {
                let mime = MIME_TYPES
                    .into_iter()
                    .find(|m| *m == wire.mime)
                    .ok_or_else(|| {
                        Error::internal(format!("parser reported mime {}", wire.mime))
                    })?;
                Ok(Extracted {
                    text: wire.text,
                    title: wire.title,
                    mime,
                    format: wire.format,
                    page_starts: wire.page_starts,
                })
            }
        }
    }
}

fn apply_limits(memory_bytes: u64, cpu_secs: u64) -> std::io::Result<()> {
    use rlimit::{Resource, setrlimit};
    setrlimit(Resource::AS, memory_bytes, memory_bytes)?;
    // SIGXCPU at the soft limit, SIGKILL one second later.
    setrlimit(Resource::CPU, cpu_secs, cpu_secs + 1)?;
    setrlimit(Resource::CORE, 0, 0)?;
    // The worker writes no file and opens none beyond its three pipes.
    setrlimit(Resource::FSIZE, 0, 0)?;
    setrlimit(Resource::NOFILE, 8, 8)?;
    Ok(())
}

fn worker(args: &[OsString]) -> std::result::Result<(), String> {
    let number = |i: usize| -> std::result::Result<u64, String> {
        args.get(i)
            .and_then(|a| a.to_str())
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("usage: ragd {PARSER_WORKER_ARG} MEMORY_BYTES CPU_SECS"))
    };
    let (memory, cpu) = (number(0)?, number(1)?);
    apply_limits(memory, cpu).map_err(|e| format!("cannot set the parser's limits: {e}"))?;
    let mut input = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut input)
        .map_err(|e| format!("cannot read the document: {e}"))?;
    let name_len = input
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
        .ok_or("no document header")? as usize;
    let name = input
        .get(4..4 + name_len)
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or("malformed document header")?
        .to_owned();
    let reply = match FileExtractor::extract_now(&name, &input[4 + name_len..]) {
        Ok(e) => Reply::Extracted(WireExtracted {
            text: e.text,
            title: e.title,
            mime: e.mime.to_owned(),
            format: e.format,
            page_starts: e.page_starts,
        }),
        Err(err) => Reply::Invalid(err.to_string()),
    };
    drop(input);
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &reply).map_err(|e| format!("cannot answer: {e}"))?;
    out.flush().map_err(|e| format!("cannot answer: {e}"))
}

/// The worker's `main`: `args` are the arguments after [`PARSER_WORKER_ARG`]. Run it before
/// anything else in the process (no settings file, no logging, no runtime).
pub fn parser_worker_main(args: &[OsString]) -> ExitCode {
    match worker(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ragd parser worker: {err}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_loader_mime_crosses_the_pipe() {
        let samples: [(&str, &[u8]); 3] = [
            ("a.txt", b"plain words"),
            ("a.md", b"# Title\n\nwords"),
            ("a.html", b"<html><body><p>words</p></body></html>"),
        ];
        for (name, bytes) in samples {
            let mime = FileExtractor::extract_now(name, bytes)
                .expect("parses")
                .mime;
            assert!(MIME_TYPES.contains(&mime), "{mime}");
        }
    }

    #[tokio::test]
    async fn a_missing_worker_program_is_unavailable_not_a_file_error() {
        let sandbox =
            SandboxedExtractor::new(PathBuf::from("/nonexistent/ragd"), ParserLimits::default());
        let err = sandbox.extract("a.txt", b"x".to_vec()).await.unwrap_err();
        assert!(matches!(err, Error::Unavailable(_)), "{err}");
    }
}
