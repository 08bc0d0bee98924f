//! Running the `embudo` binary in tests.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where a test's server keeps its data.
pub enum Backend {
    /// A SQLite file in the data directory.
    Sqlite,
    /// A fresh PostgreSQL database (dropped with the guard).
    Postgres(String, Box<embudo_store_postgres::testing::Guard>),
}

/// A data directory (and database) for one test.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub database_url: Option<String>,
    _guard: Option<Box<embudo_store_postgres::testing::Guard>>,
}

impl Site {
    pub fn new(backend: Backend) -> Self {
        let (database_url, guard) = match backend {
            Backend::Sqlite => (None, None),
            Backend::Postgres(url, guard) => (Some(url), Some(guard)),
        };
        Self {
            dir: tempfile::tempdir().unwrap(),
            database_url,
            _guard: guard,
        }
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_embudo"));
        command.arg("--data-dir").arg(self.dir.path());
        command
            .env_remove("DATABASE_URL")
            .env_remove("EMBUDO_CONFIG")
            .env("EMBUDO_LOG", "warn");
        if let Some(url) = &self.database_url {
            command.env("DATABASE_URL", url);
        }
        command
    }

    /// `embudo keys create --kind KIND`, returning the secret.
    pub fn create_key(&self, kind: &str) -> String {
        let output = self
            .command()
            .args(["keys", "create", "--kind", kind])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "keys create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }

    /// Starts `embudo serve` on a free port and waits until it says where it listens.
    pub fn serve(&self) -> Server {
        self.spawn_until_url(&["serve", "--addr", "127.0.0.1:0"], "serving on ")
    }

    /// Spawns `args` and reads stdout until a line containing `marker` followed by a URL.
    pub fn spawn_until_url(&self, args: &[&str], marker: &str) -> Server {
        let mut child = self
            .command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = Vec::new();
        let url = loop {
            let Some(line) = lines.next() else {
                let _ = child.kill();
                panic!("the process ended before printing `{marker}`; it printed: {seen:?}");
            };
            let line = line.unwrap();
            if let Some(at) = line.find(marker) {
                break line[at + marker.len()..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_string();
            }
            seen.push(line);
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
        Server {
            child: Some(child),
            url,
            rest: Some(rest),
        }
    }

    pub fn sqlite_file(&self) -> PathBuf {
        self.dir.path().join("embudo.db")
    }
}

/// A running `embudo` process.
pub struct Server {
    child: Option<Child>,
    pub url: String,
    rest: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl Server {
    /// SIGKILL: no chance to flush or clean up.
    pub fn kill(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM, then waits for a clean exit; returns what it printed after the URL.
    pub fn stop(mut self) -> Vec<String> {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = child.wait().unwrap();
        assert!(exit.success(), "embudo exited with {exit}");
        self.rest.take().unwrap().join().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `check` until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < limit,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A brand-new PostgreSQL database on the test cluster, migrated, with its URL.
pub async fn postgres() -> Backend {
    let (store, guard) = embudo_store_postgres::testing::fresh().await;
    drop(store);
    let server = std::env::var(embudo_store_postgres::testing::URL_VAR).unwrap();
    let base = server
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(&server);
    Backend::Postgres(format!("{base}/{}", guard.database()), Box::new(guard))
}
