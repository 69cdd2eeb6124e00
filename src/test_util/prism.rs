//! A [Prism](https://github.com/stoplightio/prism) mock server for contract tests: serves a
//! provider's OpenAPI spec and, with `--errors`, answers a request that breaks the spec
//! (missing required field, wrong pattern, no credentials) with a 4xx instead of a mock.
//!
//! - The binary is `$SWITCHBOARD_PRISM`, else `.tools/prism/node_modules/.bin/prism` under
//!   the crate (installed by `scripts/test.sh`). Neither present is an error that says so:
//!   contract tests never skip silently.
//! - [`Prism::shared`] starts one server per (spec, options) per test binary, lazily, because
//!   Prism takes seconds to load a spec. [`Prism::start`] starts a private one.
//! - Prism runs in its own process group under a small `sh` watchdog: dropping a [`Prism`]
//!   kills the group, and if the test process ends without dropping it (a shared server
//!   lives in a `static`) the watchdog sees its stdin close and stops Prism, so no `node`
//!   process outlives the tests.
//! - Startup is polled against a deadline; on failure the error carries Prism's output.

use std::collections::HashMap;
use std::fmt;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long Prism may take to load a spec and listen (the Twilio v2010 spec takes ~5 s).
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(90);

/// Why Prism could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PrismError(String);

/// Options of one Prism server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[must_use]
pub struct PrismOptions {
    spec: PathBuf,
    errors: bool,
    dynamic: bool,
    extra_args: Vec<String>,
}

impl PrismOptions {
    /// Serves `spec` with `--errors` (request violations answered with 4xx), static examples.
    pub fn new(spec: impl Into<PathBuf>) -> Self {
        PrismOptions {
            spec: spec.into(),
            errors: true,
            dynamic: false,
            extra_args: Vec::new(),
        }
    }

    /// `-d`: generate responses from the schemas instead of the spec's examples (for specs
    /// whose examples do not match their own schemas).
    pub fn dynamic(mut self, yes: bool) -> Self {
        self.dynamic = yes;
        self
    }

    /// Turns `--errors` off (mocks even for invalid requests; rarely what a test wants).
    pub fn errors(mut self, yes: bool) -> Self {
        self.errors = yes;
        self
    }

    /// Adds a raw argument to `prism mock`.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }
}

/// A running Prism mock server; stopped (with its whole process group) when dropped.
pub struct Prism {
    child: Mutex<Child>,
    pid: u32,
    addr: SocketAddr,
    log: PathBuf,
}

impl fmt::Debug for Prism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prism")
            .field("pid", &self.pid)
            .field("addr", &self.addr)
            .field("log", &self.log)
            .finish()
    }
}

/// The Prism binary: `$SWITCHBOARD_PRISM`, else `.tools/prism/node_modules/.bin/prism` under
/// `$CARGO_MANIFEST_DIR` (of the running test) or under this crate.
///
/// # Errors
/// A [`PrismError`] saying to run `scripts/test.sh` when neither exists.
pub fn binary() -> Result<PathBuf, PrismError> {
    if let Some(p) = std::env::var_os("SWITCHBOARD_PRISM") {
        let p = PathBuf::from(p);
        return if p.exists() {
            Ok(p)
        } else {
            Err(PrismError(format!(
                "SWITCHBOARD_PRISM={} does not exist; run scripts/test.sh to install Prism",
                p.display()
            )))
        };
    }
    let rel = Path::new(".tools/prism/node_modules/.bin/prism");
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Some(d) = std::env::var_os("CARGO_MANIFEST_DIR") {
        roots.push(PathBuf::from(d));
    }
    roots.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    roots
        .iter()
        .map(|r| r.join(rel))
        .find(|p| p.exists())
        .ok_or_else(|| {
            PrismError(
                "Prism is not installed: SWITCHBOARD_PRISM is unset and \
                 .tools/prism/node_modules/.bin/prism does not exist; run scripts/test.sh \
                 (SWITCHBOARD_TEST_SETUP_ONLY=1 scripts/test.sh installs it and exits)"
                    .to_string(),
            )
        })
}

impl Prism {
    /// Starts a private Prism server and waits until it accepts connections.
    ///
    /// # Errors
    /// A [`PrismError`] when the binary or spec is missing, or Prism exits or does not listen
    /// within [`DEFAULT_STARTUP_TIMEOUT`] (with Prism's output).
    pub fn start(options: &PrismOptions) -> Result<Prism, PrismError> {
        Self::start_with_timeout(options, DEFAULT_STARTUP_TIMEOUT)
    }

    /// Like [`Prism::start`] with another startup deadline.
    ///
    /// # Errors
    /// As for [`Prism::start`].
    pub fn start_with_timeout(
        options: &PrismOptions,
        timeout: Duration,
    ) -> Result<Prism, PrismError> {
        let bin = binary()?;
        if !options.spec.exists() {
            return Err(PrismError(format!(
                "spec {} does not exist (is SWITCHBOARD_SHARED_DIR right?)",
                options.spec.display()
            )));
        }
        let port = free_port()?;
        let log = std::env::temp_dir().join(format!(
            "switchboard-prism-{}-{port}.log",
            std::process::id()
        ));
        let log_file = std::fs::File::create(&log)
            .map_err(|e| PrismError(format!("cannot create {}: {e}", log.display())))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| PrismError(format!("cannot open {}: {e}", log.display())))?;

        let mut args: Vec<String> = vec![
            "mock".into(),
            options.spec.display().to_string(),
            "-p".into(),
            port.to_string(),
            "-h".into(),
            "127.0.0.1".into(),
        ];
        if options.errors {
            args.push("--errors".into());
        }
        if options.dynamic {
            args.push("-d".into());
        }
        args.extend(options.extra_args.iter().cloned());

        // The watchdog: runs Prism in the background, then blocks reading its stdin, a pipe
        // from this process. When this process exits (even without dropping us) the pipe
        // closes, `read` returns, and Prism is stopped.
        let script = r#""$@" </dev/null & child=$!
while read -r _; do :; done
kill -TERM "$child" 2>/dev/null
sleep 1
kill -KILL "$child" 2>/dev/null
wait "$child" 2>/dev/null"#;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .arg("prism-watchdog")
            .arg(&bin)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::from(log_err))
            .env("SCARF_ANALYTICS", "false")
            .env("NO_COLOR", "1");
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let child = cmd
            .spawn()
            .map_err(|e| PrismError(format!("cannot run {}: {e}", bin.display())))?;
        let pid = child.id();
        let prism = Prism {
            child: Mutex::new(child),
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
        };
        prism.wait_ready(timeout)?;
        Ok(prism)
    }

    /// The server for `options`, started on first use and shared by every test of this test
    /// binary (stopped by its watchdog when the binary exits).
    ///
    /// # Panics
    /// When Prism cannot be started: the message says why and carries Prism's output.
    pub fn shared(options: &PrismOptions) -> &'static Prism {
        static SERVERS: OnceLock<Mutex<HashMap<PrismOptions, &'static OnceLock<Prism>>>> =
            OnceLock::new();
        let cell: &'static OnceLock<Prism> = {
            let mut map = SERVERS
                .get_or_init(Default::default)
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            map.entry(options.clone())
                .or_insert_with(|| Box::leak(Box::new(OnceLock::new())))
        };
        // Tests of different specs start their servers in parallel; one spec starts once.
        cell.get_or_init(|| Prism::start(options).unwrap_or_else(|e| panic!("{e}")))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Prism's output so far (its request log names each violation).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_ready(&self, timeout: Duration) -> Result<(), PrismError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self
                .child
                .lock()
                .map(|mut c| c.try_wait())
                .unwrap_or(Ok(None))
            {
                return Err(PrismError(format!(
                    "Prism exited ({status}) before listening on {}; its output:\n{}",
                    self.addr,
                    tail(&self.log())
                )));
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok()
                && self.log().contains("Prism is listening")
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(PrismError(format!(
                    "Prism did not listen on {} within {timeout:?}; its output:\n{}",
                    self.addr,
                    tail(&self.log())
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        // The whole group: the watchdog shell and Prism's node process.
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg("--")
            .arg(format!("-{}", self.pid))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// One Prism "violation" of a `--errors` answer: where (`["body", "To"]`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Violation {
    /// The location, e.g. `["body", "To"]` or `["response", "body", "uri"]`.
    pub location: Vec<String>,
    /// Prism's message.
    pub message: String,
}

impl Violation {
    /// Whether Prism blames the request (anything but its own mocked `response`).
    pub fn is_request(&self) -> bool {
        self.location.first().map(String::as_str) != Some("response")
    }
}

/// The violations listed in a Prism error body (empty when it is not one).
pub fn violations(body: &[u8]) -> Vec<Violation> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    v.get("validation")
        .and_then(serde_json::Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|i| Violation {
                    location: i["location"]
                        .as_array()
                        .map(|l| {
                            l.iter()
                                .map(|s| s.as_str().unwrap_or_default().to_string())
                                .collect()
                        })
                        .unwrap_or_default(),
                    message: i["message"].as_str().unwrap_or_default().to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn free_port() -> Result<u16, PrismError> {
    let l = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| PrismError(format!("cannot bind a loopback port: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| PrismError(format!("no local address: {e}")))
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
