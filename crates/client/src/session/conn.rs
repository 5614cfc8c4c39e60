//! One TCP connection to one server: connect, the handshake, and the writer task.
//!
//! The writer runs as its own task fed by an unbounded channel of ready frames, so the session
//! task never waits on a slow socket while it has replies to read (a server that cannot send
//! because the client is stuck writing would deadlock both). The channel's length is bounded by
//! the client's in-flight request limit plus a few control frames.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use watchkeeper_proto::frame::record_frame;
use watchkeeper_proto::{ConnectRequest, ConnectResponse, FrameDecoder, Record};

/// Why an attempt to open a session on one server failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("no connection and handshake within {0:?}")]
    Timeout(Duration),
    #[error("bad handshake reply: {0}")]
    Protocol(String),
}

/// An established connection: the read half stays with the session task.
pub(crate) struct Conn {
    pub(crate) addr: SocketAddr,
    pub(crate) reader: OwnedReadHalf,
    /// Bytes read but not yet framed (the handshake read may have taken more than its frame).
    pub(crate) buf: BytesMut,
    pub(crate) decoder: FrameDecoder,
    pub(crate) writer: mpsc::UnboundedSender<Bytes>,
    pub(crate) write_task: JoinHandle<io::Result<()>>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.write_task.abort();
    }
}

/// Connects to `host:port` (trying each address it resolves to), sends `request` and reads the
/// ConnectResponse, all within `timeout`.
pub(crate) async fn open(
    host: &str,
    port: u16,
    request: &ConnectRequest,
    timeout: Duration,
    max_buffer: usize,
) -> Result<(Conn, ConnectResponse), OpenError> {
    tokio::time::timeout(timeout, open_inner(host, port, request, max_buffer))
        .await
        .map_err(|_| OpenError::Timeout(timeout))?
}

async fn open_inner(
    host: &str,
    port: u16,
    request: &ConnectRequest,
    max_buffer: usize,
) -> Result<(Conn, ConnectResponse), OpenError> {
    let mut last_err = io::Error::new(io::ErrorKind::NotFound, "host resolved to no address");
    let mut stream = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                stream = Some((s, addr));
                break;
            }
            Err(e) => last_err = e,
        }
    }
    let (stream, addr) = stream.ok_or(last_err)?;
    stream.set_nodelay(true)?;
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(&record_frame(request)).await?;

    let decoder = FrameDecoder::new(max_buffer);
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let frame = loop {
        if let Some(frame) = decoder
            .decode(&mut buf)
            .map_err(|e| OpenError::Protocol(e.to_string()))?
        {
            break frame;
        }
        if reader.read_buf(&mut buf).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection during the handshake",
            )
            .into());
        }
    };
    let response =
        ConnectResponse::decode_exact(&frame).map_err(|e| OpenError::Protocol(e.to_string()))?;

    let (tx, rx) = mpsc::unbounded_channel();
    let write_task = tokio::spawn(write_loop(writer, rx));
    let conn = Conn {
        addr,
        reader,
        buf,
        decoder,
        writer: tx,
        write_task,
    };
    Ok((conn, response))
}

/// Writes frames in order, flushing whenever the queue runs dry. Ends when the channel closes
/// (the write half is then dropped, which shuts the socket's write side).
async fn write_loop(
    writer: OwnedWriteHalf,
    mut frames: mpsc::UnboundedReceiver<Bytes>,
) -> io::Result<()> {
    let mut writer = BufWriter::with_capacity(64 * 1024, writer);
    while let Some(frame) = frames.recv().await {
        writer.write_all(&frame).await?;
        while let Ok(frame) = frames.try_recv() {
            writer.write_all(&frame).await?;
        }
        writer.flush().await?;
    }
    Ok(())
}
