//! A TCP proxy between a client and the server that a test can cut, so a client loses its
//! connection (and cannot get a new one) while the server keeps running and other clients keep
//! working.

#![allow(dead_code)]

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bytes flow both ways.
    Forward,
    /// Connections stay open but nothing is forwarded.
    Blackhole,
    /// Every connection is closed and new ones are closed at once.
    Refuse,
}

pub struct Proxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().expect("proxy addr");
        let (mode, _) = watch::channel(Mode::Forward);
        let modes = mode.clone();
        let upstream = upstream.to_owned();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *modes.borrow() == Mode::Refuse {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                tokio::spawn(pipe(client, server, modes.subscribe()));
            }
        });
        Proxy { addr, mode, accept }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.mode.send_replace(Mode::Refuse);
        self.accept.abort();
    }
}

async fn pipe(client: TcpStream, server: TcpStream, mut mode: watch::Receiver<Mode>) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let mut up = vec![0u8; 64 * 1024];
    let mut down = vec![0u8; 64 * 1024];
    loop {
        let current = *mode.borrow_and_update();
        match current {
            Mode::Refuse => return,
            Mode::Blackhole => {
                if mode.changed().await.is_err() {
                    return;
                }
            }
            Mode::Forward => {
                tokio::select! {
                    // A mode change wins over bytes that are ready at the same time, so nothing
                    // is forwarded once a test has said stop.
                    biased;
                    changed = mode.changed() => if changed.is_err() { return },
                    r = cr.read(&mut up) => match r {
                        Ok(0) | Err(_) => return,
                        Ok(n) => if sw.write_all(&up[..n]).await.is_err() { return },
                    },
                    r = sr.read(&mut down) => match r {
                        Ok(0) | Err(_) => return,
                        Ok(n) => if cw.write_all(&down[..n]).await.is_err() { return },
                    },
                }
            }
        }
    }
}
