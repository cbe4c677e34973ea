//! Child processes the toolkit starts (chartroom, s3s-fs; a benchmark's nginx): killed on drop,
//! and listed while they run so a deadline can kill them all before the process exits (an exit
//! runs no destructors).

use std::io;
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// PIDs of the processes started through [`Process::spawn`] that have not been reaped yet.
static RUNNING: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn running() -> std::sync::MutexGuard<'static, Vec<u32>> {
    // A panic while the lock was held leaves the list usable.
    RUNNING.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sends `signal` (`TERM`, `KILL`, ...) to `pid` with `kill(1)`.
pub fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(std::process::Stdio::null())
        .status();
}

/// SIGKILLs every process started through [`Process::spawn`] that is still running (for a
/// deadline that ends the program with `std::process::exit`).
pub fn kill_all() {
    for pid in running().iter() {
        signal(*pid, "KILL");
    }
}

/// Picks a currently free loopback port (bind to port 0, read it, drop the listener).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// A running child process, SIGKILLed and reaped on drop.
#[derive(Debug)]
pub struct Process {
    child: Child,
    exited: Option<ExitStatus>,
}

impl Process {
    pub fn spawn(cmd: &mut Command) -> io::Result<Process> {
        let child = cmd.spawn()?;
        running().push(child.id());
        Ok(Process { child, exited: None })
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    fn reaped(&mut self, status: ExitStatus) -> ExitStatus {
        if self.exited.is_none() {
            let pid = self.child.id();
            running().retain(|p| *p != pid);
            self.exited = Some(status);
        }
        status
    }

    /// The exit status if the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if let Some(status) = self.exited {
            return Some(status);
        }
        match self.child.try_wait() {
            Ok(Some(status)) => Some(self.reaped(status)),
            _ => None,
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.try_wait().is_none()
    }

    /// Sends `sig` (`TERM`, ...) unless the process has exited.
    pub fn signal(&mut self, sig: &str) {
        if self.is_running() {
            signal(self.id(), sig);
        }
    }

    /// Waits up to `limit` for the process to exit (polling every 5 ms); its status, or `None`
    /// when it is still running.
    pub fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGKILL (`Child::kill` on Unix): the process dies at once. Returns its exit status.
    pub fn kill(&mut self) -> ExitStatus {
        if let Some(status) = self.exited {
            return status;
        }
        let _ = self.child.kill();
        let status = self.child.wait().expect("wait for a killed child process");
        self.reaped(status)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}
