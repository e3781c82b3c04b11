//! Real storage servers for tests, started on 127.0.0.1 on a free port: [`Moto`] (S3) and
//! [`Azurite`] (Azure Blob Storage).
//!
//! `./scripts/test` installs both under `target/` (moto in the Python venv `target/venv`,
//! Azurite with npm under `target/npm`). The launchers look there, relative to the
//! workspace root, unless `TRACEHOUND_MOTO_SERVER` (the `moto_server` program) or
//! `TRACEHOUND_AZURITE_BLOB` (Azurite's `dist/src/blob/main.js`) names another place. A
//! missing server is an error telling the reader to run `./scripts/test`: a test that
//! needs one fails rather than passing without it.
//!
//! Each server runs as a child process, killed and reaped by `stop` and on drop. Their
//! state is in memory only, so a restart starts empty.

use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::{RawClient, TempDir, request_bytes};

/// How long a server may take to start answering (moto imports a lot of Python).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The workspace root (the parent of `test-support/`).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// A moto S3 server: `moto_server -H 127.0.0.1 -p PORT`.
#[derive(Debug)]
pub struct Moto {
    server: Server,
}

impl Moto {
    /// Where `moto_server` is looked for: `TRACEHOUND_MOTO_SERVER`, else
    /// `target/venv/bin/moto_server` under the workspace root.
    pub fn program() -> PathBuf {
        std::env::var_os("TRACEHOUND_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target/venv/bin/moto_server"))
    }

    /// Starts moto on a free port and waits until it answers.
    pub fn start() -> io::Result<Moto> {
        Moto::start_with_env(&[])
    }

    /// Like [`start`](Self::start), with variables added to moto's environment (such as
    /// `INITIAL_NO_AUTH_ACTION_COUNT`, after how many requests moto checks signatures).
    pub fn start_with_env(env: &[(&str, &str)]) -> io::Result<Moto> {
        let program = Moto::program();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let command = move |port: u16| {
            let mut command = Command::new(&program);
            command
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .envs(env.iter().map(|(k, v)| (k, v)));
            command
        };
        let server = Server::start("moto", &Moto::program(), Box::new(command))?;
        Ok(Moto { server })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// Kills the server and waits for it to exit.
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Starts the server again on the same port (empty: moto keeps nothing).
    pub fn restart(&mut self) -> io::Result<()> {
        self.server.restart()
    }

    /// Creates `bucket` with a plain `PUT /bucket` (moto does not check signatures).
    pub fn create_bucket(&self, bucket: &str) -> io::Result<()> {
        let status = self.request("PUT", &format!("/{bucket}"), &[], b"")?;
        expect_success(status, "create the bucket")
    }

    fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<u16> {
        http(self.server.addr, method, target, headers, body)
    }
}

/// An Azurite Blob Storage server:
/// `node <azurite>/dist/src/blob/main.js --blobHost 127.0.0.1 --blobPort PORT
/// --inMemoryPersistence --disableTelemetry`.
#[derive(Debug)]
pub struct Azurite {
    server: Server,
}

impl Azurite {
    /// The emulator's account.
    pub const ACCOUNT: &'static str = "devstoreaccount1";
    /// The emulator's account key, published in Azurite's documentation (not a secret).
    pub const KEY: &'static str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    /// Where Azurite's blob server script is looked for: `TRACEHOUND_AZURITE_BLOB`, else
    /// `target/npm/node_modules/azurite/dist/src/blob/main.js` under the workspace root.
    pub fn script() -> PathBuf {
        std::env::var_os("TRACEHOUND_AZURITE_BLOB")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                workspace_root().join("target/npm/node_modules/azurite/dist/src/blob/main.js")
            })
    }

    /// Starts Azurite on a free port and waits until it answers.
    pub fn start() -> io::Result<Azurite> {
        let script = Azurite::script();
        let workdir = TempDir::new("azurite")?;
        let location = workdir.0.clone();
        let command = move |port: u16| {
            let mut command = Command::new("node");
            command
                .arg(&script)
                .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
                .args([
                    "--inMemoryPersistence",
                    "--disableTelemetry",
                    "--skipApiVersionCheck",
                ])
                // In memory (which rules out --location), but it may still write a debug
                // log or lock file to its working directory: give it one of its own.
                .current_dir(&location);
            command
        };
        let mut server = Server::start("azurite", &Azurite::script(), Box::new(command))?;
        server.workdir = Some(workdir);
        Ok(Azurite { server })
    }

    /// The account's URL: `http://127.0.0.1:PORT/devstoreaccount1`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/{}", self.server.addr, Azurite::ACCOUNT)
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// Kills the server and waits for it to exit.
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Starts the server again on the same port (empty: it keeps nothing).
    pub fn restart(&mut self) -> io::Result<()> {
        self.server.restart()
    }

    /// Creates `container`, signing the request with the account's Shared Key.
    pub fn create_container(&self, container: &str) -> io::Result<()> {
        let path = format!("/{}/{container}", Azurite::ACCOUNT);
        let resource = format!("/{}{path}\nrestype:container", Azurite::ACCOUNT);
        let date = http_date(SystemTime::now());
        let version = "2021-08-06";
        let string_to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n{resource}"
        );
        let signature = shared_key_signature(Azurite::KEY, &string_to_sign)?;
        let authorization = format!("SharedKey {}:{signature}", Azurite::ACCOUNT);
        let status = http(
            self.server.addr,
            "PUT",
            &format!("{path}?restype=container"),
            &[
                ("x-ms-date", &date),
                ("x-ms-version", version),
                ("Authorization", &authorization),
            ],
            b"",
        )?;
        expect_success(status, "create the container")
    }
}

/// Base64 of HMAC-SHA256 of `string_to_sign` under the base64 `key`.
fn shared_key_signature(key: &str, string_to_sign: &str) -> io::Result<String> {
    let key = STANDARD
        .decode(key)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    mac.update(string_to_sign.as_bytes());
    Ok(STANDARD.encode(mac.finalize().into_bytes()))
}

/// `time` as an HTTP date (RFC 9110 IMF-fixdate), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(time: SystemTime) -> String {
    let seconds = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = seconds / 86_400;
    let in_day = seconds % 86_400;
    // Days to a civil date (Howard Hinnant's algorithm), days counted from 0000-03-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = WEEKDAYS[(days % 7) as usize];
    let month_name = MONTHS[(month - 1) as usize];
    format!(
        "{weekday}, {day:02} {month_name} {year} {:02}:{:02}:{:02} GMT",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

/// One HTTP/1.1 request on a fresh connection; the response's status code.
fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<u16> {
    let host = addr.to_string();
    let length = body.len().to_string();
    let mut all: Vec<(&str, &str)> = vec![
        ("Host", &host),
        ("Content-Length", &length),
        ("Connection", "close"),
    ];
    all.extend_from_slice(headers);
    let mut client = RawClient::connect(addr)?;
    client.send(&request_bytes(method, target, &all, body))?;
    Ok(client.read_response()?.head.status)
}

fn expect_success(status: u16, what: &str) -> io::Result<()> {
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "could not {what}: status {status}"
        )))
    }
}

type CommandFor = Box<dyn Fn(u16) -> Command + Send>;

/// A child process serving HTTP on 127.0.0.1.
struct Server {
    name: &'static str,
    command: CommandFor,
    addr: SocketAddr,
    child: Option<Child>,
    /// The server's output, kept for the error if it does not come up.
    log: PathBuf,
    /// Azurite's working directory, removed with the server.
    workdir: Option<TempDir>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .field("running", &self.child.is_some())
            .finish()
    }
}

impl Server {
    fn start(name: &'static str, program: &Path, command: CommandFor) -> io::Result<Server> {
        if !program.exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{name} is not installed at {}: run ./scripts/test once, which installs it \
                     under target/ (or point TRACEHOUND_MOTO_SERVER / TRACEHOUND_AZURITE_BLOB at it)",
                    program.display()
                ),
            ));
        }
        let addr = free_port()?;
        let mut server = Server {
            name,
            command,
            addr,
            child: None,
            log: crate::temp_path(&format!("{name}-log")),
            workdir: None,
        };
        server.restart()?;
        Ok(server)
    }

    fn restart(&mut self) -> io::Result<()> {
        self.stop();
        let log = File::create(&self.log)?;
        let child = (self.command)(self.addr.port())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        self.wait_until_answering()
    }

    fn wait_until_answering(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                return Err(io::Error::other(format!(
                    "{} exited with {status} before answering: {}",
                    self.name,
                    self.log_tail()
                )));
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok()
                && http(self.addr, "GET", "/", &[], b"").is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{} did not answer on {} within {} s: {}",
                        self.name,
                        self.addr,
                        START_TIMEOUT.as_secs(),
                        self.log_tail()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = log.len().saturating_sub(2000);
        log.get(start..).unwrap_or_default().to_owned()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(
            http_date(SystemTime::UNIX_EPOCH),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        let rfc_example = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(rfc_example), "Sun, 06 Nov 1994 08:49:37 GMT");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_210_096);
        assert_eq!(http_date(leap), "Thu, 29 Feb 2024 12:34:56 GMT");
    }
}

/// A TCP gate in front of a server, on its own port: while it is closed, connections to it
/// are refused and those open are cut, as when a store goes down or the network between
/// goes away; reopened, it forwards again on the same port. Unlike restarting the server,
/// the server keeps its state.
#[derive(Debug)]
pub struct Gate {
    addr: SocketAddr,
    target: SocketAddr,
    running: Option<GateLoop>,
}

#[derive(Debug)]
struct GateLoop {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    streams: std::sync::Arc<std::sync::Mutex<Vec<TcpStream>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Gate {
    /// Opens a gate on a free port of 127.0.0.1 forwarding to `target`.
    pub fn open(target: SocketAddr) -> io::Result<Gate> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let mut gate = Gate {
            addr,
            target,
            running: None,
        };
        gate.serve(listener)?;
        Ok(gate)
    }

    /// `http://127.0.0.1:PORT` of the gate.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting (connections are refused) and cuts every forwarded connection.
    pub fn close(&mut self) {
        if let Some(running) = self.running.take() {
            running
                .stop
                .store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = running.thread.join();
            if let Ok(streams) = running.streams.lock() {
                for stream in streams.iter() {
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                }
            }
        }
    }

    /// Forwards again, on the same port.
    pub fn reopen(&mut self) -> io::Result<()> {
        self.close();
        let listener = TcpListener::bind(self.addr)?;
        self.serve(listener)
    }

    fn serve(&mut self, listener: TcpListener) -> io::Result<()> {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let (target, flag, held) = (self.target, Arc::clone(&stop), Arc::clone(&streams));
        let thread = std::thread::Builder::new()
            .name("test-gate".into())
            .spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    let Ok((client, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    let _ = forward(client, target, &held);
                }
            })?;
        self.running = Some(GateLoop {
            stop,
            streams,
            thread,
        });
        Ok(())
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.close();
    }
}

/// Copies bytes both ways between `client` and a new connection to `target`.
fn forward(
    client: TcpStream,
    target: SocketAddr,
    held: &std::sync::Mutex<Vec<TcpStream>>,
) -> io::Result<()> {
    client.set_nonblocking(false)?;
    let server = TcpStream::connect_timeout(&target, Duration::from_secs(2))?;
    if let Ok(mut held) = held.lock() {
        held.push(client.try_clone()?);
        held.push(server.try_clone()?);
    }
    for (mut from, mut to) in [(client.try_clone()?, server.try_clone()?), (server, client)] {
        std::thread::Builder::new()
            .name("test-gate-copy".into())
            .spawn(move || {
                let _ = io::copy(&mut from, &mut to);
                let _ = to.shutdown(std::net::Shutdown::Write);
            })?;
    }
    Ok(())
}
