//! CNCF distribution (`docker-registry`) on a loopback port: the reference registry.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A CNCF distribution registry (Debian's `docker-registry`) on a loopback port, without auth
/// or with htpasswd (basic) auth.
pub struct Distribution {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub host: String,
    _dir: tempfile::TempDir,
}

impl Distribution {
    /// Starts one with its own storage directory, open to everyone.
    pub fn start() -> Distribution {
        Distribution::start_with(None)
    }

    /// Starts one that admits only `user` with `password` (htpasswd, bcrypt).
    pub fn start_with_login(user: &str, password: &str) -> Distribution {
        Distribution::start_with(Some((user, password)))
    }

    fn start_with(login: Option<(&str, &str)>) -> Distribution {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let host = format!("127.0.0.1:{port}");
        let auth = match login {
            None => String::new(),
            Some((user, password)) => {
                let file = dir.path().join("htpasswd");
                let hash = bcrypt::hash(password, 5).expect("bcrypt");
                std::fs::write(&file, format!("{user}:{hash}\n")).expect("writing htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: depot-rs-test\n    path: {}\n",
                    file.display()
                )
            }
        };
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n{auth}",
                dir.path().join("data").display()
            ),
        )
        .expect("writing the distribution config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry is not installed: run scripts/test.sh, which installs it");
        // Owned from here on, so a failed start still stops the process.
        let registry = Distribution {
            child,
            host,
            _dir: dir,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(&registry.host).is_ok() {
                return registry;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry did not start on {}", registry.host);
    }

    /// The process id of the registry.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
