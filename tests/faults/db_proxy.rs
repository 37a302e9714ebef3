//! A TCP proxy between hookline and its PostgreSQL database that fails the way a network does:
//! it can sever every open connection (a reset, as when the server restarts), refuse new ones
//! (nothing listening), or go silent (a blackhole: bytes are held, nothing is answered, no
//! connection ends, as when a firewall or a NAT drops its state).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic from now on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forward both ways.
    Pass,
    /// Accept and hold: no byte goes through either way until the mode changes.
    Blackhole,
    /// New connections are reset as soon as they arrive; open ones are severed.
    Refuse,
}

pub struct DbProxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    /// Bumped to cut every open connection at once.
    generation: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DbProxy {
    pub async fn start(upstream: SocketAddr) -> DbProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (mode, _) = watch::channel(Mode::Pass);
        let (generation, _) = watch::channel(0u64);
        let (modes, generations) = (mode.clone(), generation.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let conn = Conn {
                    mode: modes.subscribe(),
                    generation: generations.subscribe(),
                };
                tokio::spawn(conn.serve(client, upstream));
            }
        });
        DbProxy {
            addr,
            mode,
            generation,
            task,
        }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
        if mode == Mode::Refuse {
            self.sever();
        }
    }

    /// Reset every open connection; new ones are served as the mode says.
    pub fn sever(&self) {
        self.generation.send_modify(|g| *g += 1);
    }
}

struct Conn {
    mode: watch::Receiver<Mode>,
    generation: watch::Receiver<u64>,
}

impl Conn {
    async fn serve(mut self, client: TcpStream, upstream: SocketAddr) {
        let mut modes = self.mode.clone();
        // A connection that arrives during a blackhole waits, unanswered, for the mode to change.
        let mode = match modes.wait_for(|m| *m != Mode::Blackhole).await {
            Ok(m) => *m,
            Err(_) => return,
        };
        if mode == Mode::Refuse {
            reset(client);
            return;
        }
        let Ok(server) = TcpStream::connect(upstream).await else {
            reset(client);
            return;
        };
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        let both = async {
            tokio::join!(
                pump(client_read, server_write, self.mode.clone()),
                pump(server_read, client_write, self.mode.clone())
            )
        };
        tokio::select! {
            (a, b) = both => {
                // Each pump gives its sockets back; dropping them here ends the connection.
                drop((a, b));
            }
            _ = self.generation.changed() => {
                // Severed: the pumps and their sockets are dropped, which ends both sides.
            }
        }
    }
}

/// Copy `from` into `to`, holding each chunk while the proxy is a blackhole; ends on EOF, on an
/// error or when the proxy refuses.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) -> (OwnedReadHalf, OwnedWriteHalf) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        match mode.wait_for(|m| *m != Mode::Blackhole).await.map(|m| *m) {
            Ok(Mode::Pass) => {}
            _ => break,
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
    (from, to)
}

/// Close with a reset (RST), as a port with nothing behind it answers.
fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}
