//! Real servers for the remote-cache tests, on 127.0.0.1 and a free port, started by
//! the test and stopped (by PID) when its handle drops: moto's S3 server and nginx
//! with WebDAV. Mocks would agree with whatever conduct assumes; these answer as the
//! storage users run does (signing, 404s, PUT semantics, MKCOL).
//!
//! Where a server is not installed the test says `skipped: <server> not installed`
//! and gets `None`; under `CI=true` that is a failure instead (`.ci/run` installs
//! both). moto is found through `CONDUCT_MOTO`, then `moto_server` on `PATH`, then
//! `.ci/venv/bin/moto_server`; nginx on `PATH` or in `/usr/sbin`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a server may take to answer on its port (moto imports a lot of Python).
const START: Duration = Duration::from_secs(30);

/// A running server; killed and reaped on drop.
pub(crate) struct Server {
    child: Child,
    port: u16,
    /// Config, logs and (for nginx) the served files.
    dir: TempDir,
}

impl Server {
    /// Stop it now (SIGKILL by PID, then wait), as a crash would.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The server's log of requests, one line a request (nginx's access log, moto's
    /// werkzeug log on stderr): both write `"METHOD /path HTTP/1.1" status`.
    pub(crate) fn access_log(&self) -> String {
        ["access.log", "moto.log"]
            .iter()
            .filter_map(|f| std::fs::read_to_string(self.dir.path().join(f)).ok())
            .collect()
    }

    /// How many requests with this method the server has logged.
    pub(crate) fn requests(&self, method: &str) -> usize {
        let needle = format!("\"{method} ");
        self.access_log()
            .lines()
            .filter(|l| l.contains(&needle))
            .count()
    }

    /// The process, for a task that kills it mid-build.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The directory nginx serves (the remote's files, to corrupt or inspect).
    pub(crate) fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// moto's S3 server with the bucket `bucket` made. Set `AWS_*` in the environment of
/// whatever talks to it with [`Moto::env`].
pub(crate) struct Moto {
    pub(crate) server: Server,
}

impl Moto {
    pub(crate) fn start() -> Option<Moto> {
        let program = find_moto()?;
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("moto.log")).expect("moto log");
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("moto log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let mut server = Server { child, port, dir };
        wait_for(&mut server, "moto_server");
        let status = http(port, "PUT", "/bucket");
        assert!(status == 200, "moto: creating the bucket answered {status}");
        Some(Moto { server })
    }

    /// The environment the S3 client reads: moto takes any credentials.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            (
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.server.port),
            ),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ]
    }
}

/// nginx serving a fresh directory over WebDAV (`PUT`, `DELETE`, parent directories
/// made on `PUT`) at `http://127.0.0.1:PORT/`, logging every request.
pub(crate) struct Nginx {
    pub(crate) server: Server,
}

impl Nginx {
    pub(crate) fn start() -> Option<Nginx> {
        Nginx::start_with_login(None)
    }

    /// With `Some((user, password))`, every request must log in (HTTP basic auth).
    pub(crate) fn start_with_login(login: Option<(&str, &str)>) -> Option<Nginx> {
        let program = find("nginx", &[Path::new("/usr/sbin/nginx")])?;
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let d = dir.path().display();
        std::fs::create_dir(dir.path().join("root")).expect("nginx root");
        // One process (`master_process off`), so its PID is the server; as root it
        // must also be told to stay root, or it could not write the temp dir.
        let user = if rustix::process::geteuid().is_root() {
            "user root root;"
        } else {
            ""
        };
        let auth = match login {
            Some((user, password)) => {
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, format!("{user}:{{PLAIN}}{password}\n")).expect("htpasswd");
                format!(
                    "auth_basic \"cache\";\n      auth_basic_user_file {};\n      ",
                    file.display()
                )
            }
            None => String::new(),
        };
        let conf = format!(
            "daemon off;\nmaster_process off;\n{user}\npid {d}/nginx.pid;\n\
             error_log {d}/error.log;\nevents {{ worker_connections 64; }}\n\
             http {{\n  access_log {d}/access.log;\n\
             client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n\
             scgi_temp_path {d}/scgi;\n\
             server {{\n    listen 127.0.0.1:{port};\n    root {d}/root;\n\
             client_max_body_size 0;\n\
             location / {{\n      {auth}dav_methods PUT DELETE MKCOL;\n\
             create_full_put_path on;\n      dav_access user:rw;\n    }}\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).expect("nginx.conf");
        let log = std::fs::File::create(dir.path().join("stderr.log")).expect("nginx log");
        let child = Command::new(&program)
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("nginx log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let mut server = Server { child, port, dir };
        wait_for(&mut server, "nginx");
        Some(Nginx { server })
    }

    /// The URL of the served directory `path` (`cache/`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.server.port)
    }
}

/// A server that is not installed: `None`, said; under `CI=true`, a failure.
fn missing(server: &str) -> Option<PathBuf> {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{server} is not installed, and CI=true: .ci/run installs it"
    );
    eprintln!("skipped: {server} not installed");
    None
}

fn find_moto() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CONDUCT_MOTO") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Some(path)
        } else {
            missing(&format!("moto_server (CONDUCT_MOTO={})", path.display()))
        };
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/venv/bin/moto_server");
    find("moto_server", &[&venv])
}

/// `name` on `PATH`, else the first of `fallbacks` that exists.
pub(crate) fn find(name: &str, fallbacks: &[&Path]) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .iter()
        .map(|dir| dir.join(name))
        .chain(fallbacks.iter().map(|p| p.to_path_buf()))
        .find(|p| p.is_file())
        .or_else(|| missing(name))
}

/// A port nothing listens on now (the kernel's pick; another process could take it
/// before the server binds, which `wait_for` would then report).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Poll the port until the server accepts, it exits, or [`START`] passes.
fn wait_for(server: &mut Server, name: &str) {
    let addr = SocketAddr::from(([127, 0, 0, 1], server.port));
    let deadline = Instant::now() + START;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "{name} exited ({status}) before answering: {}",
                logs(server)
            );
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not answer on port {} within {START:?}: {}",
            server.port,
            logs(server)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn logs(server: &Server) -> String {
    ["moto.log", "stderr.log", "error.log"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(server.dir.path().join(f)).ok())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A bodiless HTTP/1.1 request to 127.0.0.1:`port`; the status it answers.
pub(crate) fn http(port: u16, method: &str, path: &str) -> u16 {
    request(port, method, path, b"").0
}

/// An HTTP/1.1 request with `body` to 127.0.0.1:`port`; the status and the whole
/// answer. It names moto's test account in a SigV4 header whose signature moto does
/// not check (an anonymous request may create, but not overwrite, an object); nginx
/// ignores it.
pub(crate) fn request(port: u16, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\
         Content-Type: application/octet-stream\r\nConnection: close\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/s3/\
         aws4_request, SignedHeaders=host, Signature=00\r\n\r\n",
        body.len()
    )
    .expect("request");
    stream.write_all(body).expect("request body");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {answer:?}"));
    (status, answer)
}
