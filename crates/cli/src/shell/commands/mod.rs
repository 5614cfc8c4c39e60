//! Running parsed commands against a [`Store`]: one file per command group.
//!
//! [`execute`] is the single dispatch point for the shell and one-shot mode. It returns a
//! structured [`Reply`] (rendered to text or JSON by `render.rs`), never prints, so that every
//! command's behaviour is testable against the in-memory store. A command that leaves a watch
//! behind returns it in the [`Outcome`] so the caller decides how to wait for it.

mod read;
mod transfer;
mod walk;
mod watch;
mod write;

use std::fmt;
use std::path::PathBuf;

use watchkeeper_proto::{Acl, ErrorCode, Stat};

use super::parse::{Command, UsageError};
use super::store::{Store, StoreError};

#[cfg(test)]
use transfer::EXPORT_FORMAT;
pub use walk::{Subtree, join};

/// What a successful command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `ls`: sorted child names.
    Children {
        children: Vec<String>,
        stat: Option<Stat>,
    },
    /// `ls -R`: every path of the subtree, parents before children.
    Paths(Vec<String>),
    /// `get`.
    Data {
        data: Vec<u8>,
        stat: Option<Stat>,
    },
    /// `stat`.
    Stat(Stat),
    /// `create`: the node's actual path.
    Created(String),
    /// `set`; `show` when `-s` asked for the stat.
    Written {
        stat: Stat,
        show: bool,
    },
    /// `delete` and `deleteall`: how many nodes went.
    Deleted {
        path: String,
        count: usize,
    },
    /// `getAcl`.
    Acl {
        acl: Vec<Acl>,
        stat: Option<Stat>,
    },
    /// `setAcl`: how many nodes changed and the (first) node's new stat.
    AclSet {
        stat: Stat,
        count: usize,
    },
    AuthAdded {
        scheme: String,
    },
    Synced(String),
    /// `tree`.
    Tree(Subtree),
    /// `export`: the document, and the file it went to (none: the caller prints it).
    Exported {
        document: String,
        file: Option<PathBuf>,
        nodes: usize,
        skipped_ephemerals: usize,
    },
    Imported {
        path: String,
        nodes: usize,
    },
    Help(String),
    Quit,
}

/// A reply, plus whatever keeps running after it.
pub enum Outcome<S: Store> {
    Done(Reply),
    /// `-w`: the reply, and the one-shot watch it set.
    Watching(Reply, S::Oneshot),
    /// `watch`: events until the caller stops listening.
    Stream {
        path: String,
        events: S::Watch,
    },
}

impl<S: Store> fmt::Debug for Outcome<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Done(r) => f.debug_tuple("Done").field(r).finish(),
            Outcome::Watching(r, _) => f.debug_tuple("Watching").field(r).finish(),
            Outcome::Stream { path, .. } => f.debug_struct("Stream").field("path", path).finish(),
        }
    }
}

#[cfg(test)]
impl<S: Store> Outcome<S> {
    /// The reply, for tests that do not care about a watch.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Outcome::Done(r) | Outcome::Watching(r, _) => Some(r),
            Outcome::Stream { .. } => None,
        }
    }
}

/// Why a command failed; its `Display` is the message the user sees.
#[derive(Debug)]
pub enum CmdError {
    Usage(UsageError),
    /// The server refused an operation on `path`.
    Server {
        code: ErrorCode,
        path: String,
    },
    /// The session is gone (connection lost, expired, closed).
    Connection(String),
    /// The client library refused (bad arguments, protocol trouble).
    Client(String),
    File {
        path: PathBuf,
        why: String,
    },
    BadExport(String),
    /// A subtree or file larger than the shell handles.
    TooLarge(String),
    /// A multi-node command stopped part way.
    Partial {
        done: usize,
        what: &'static str,
        source: Box<CmdError>,
    },
}

impl CmdError {
    /// The process exit status for this failure: 2 usage, 3 no session, 1 anything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            CmdError::Usage(_) => 2,
            CmdError::Connection(_) => 3,
            CmdError::Partial { source, .. } => source.exit_code(),
            _ => 1,
        }
    }

    /// A short machine name for `--json` error objects.
    pub fn kind(&self) -> String {
        match self {
            CmdError::Usage(_) => "Usage".into(),
            CmdError::Server { code, .. } => format!("{code:?}"),
            CmdError::Connection(_) => "Connection".into(),
            CmdError::Client(_) => "Client".into(),
            CmdError::File { .. } => "File".into(),
            CmdError::BadExport(_) => "BadExport".into(),
            CmdError::TooLarge(_) => "TooLarge".into(),
            CmdError::Partial { source, .. } => source.kind(),
        }
    }

    /// Wraps a store error with the path it concerned.
    pub fn at(path: &str, e: StoreError) -> CmdError {
        match e {
            StoreError::Server(code) => CmdError::Server {
                code,
                path: path.to_string(),
            },
            StoreError::Connection(why) => CmdError::Connection(why),
            StoreError::Other(why) => CmdError::Client(why),
        }
    }
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdError::Usage(e) => write!(f, "{e}"),
            CmdError::Server { code, path } => match code {
                // zkCli's wording, so scripts written against it keep matching.
                ErrorCode::NoNode => write!(f, "Node does not exist: {path}"),
                ErrorCode::NodeExists => write!(f, "Node already exists: {path}"),
                ErrorCode::NotEmpty => write!(f, "Node not empty: {path}"),
                ErrorCode::BadVersion => write!(f, "Version does not match: {path}"),
                ErrorCode::NoAuth => write!(f, "Insufficient permission: {path}"),
                ErrorCode::NoChildrenForEphemerals => {
                    write!(f, "Ephemerals cannot have children: {path}")
                }
                ErrorCode::InvalidAcl => write!(f, "Invalid ACL: {path}"),
                ErrorCode::AuthFailed => write!(f, "Authentication failed"),
                ErrorCode::BadArguments => write!(f, "Bad arguments: {path}"),
                ErrorCode::Unimplemented => write!(
                    f,
                    "Not supported by the server: {path} (TTL nodes need extendedTypesEnabled)"
                ),
                other => write!(f, "{other}: {path}"),
            },
            CmdError::Connection(why) => f.write_str(why),
            CmdError::Client(why) => f.write_str(why),
            CmdError::File { path, why } => write!(f, "{}: {why}", path.display()),
            CmdError::BadExport(why) => write!(f, "not a watchkeeper export: {why}"),
            CmdError::TooLarge(why) => f.write_str(why),
            CmdError::Partial { done, what, source } => {
                write!(f, "{source} (stopped after {what} {done} nodes)")
            }
        }
    }
}

impl std::error::Error for CmdError {}

impl From<UsageError> for CmdError {
    fn from(e: UsageError) -> Self {
        CmdError::Usage(e)
    }
}

/// Runs one command.
pub async fn execute<S: Store>(store: &S, cmd: Command) -> Result<Outcome<S>, CmdError> {
    use Outcome::Done;
    match cmd {
        Command::Ls {
            path,
            recursive: true,
            ..
        } => Ok(Done(read::ls_recursive(store, &path).await?)),
        Command::Ls {
            path, stat, watch, ..
        } => read::ls(store, &path, stat, watch).await,
        Command::Get { path, stat, watch } => read::get(store, &path, stat, watch).await,
        Command::Stat { path, watch } => read::stat(store, &path, watch).await,
        Command::GetAcl { path, stat } => Ok(Done(read::get_acl(store, &path, stat).await?)),
        Command::Sync { path } => Ok(Done(read::sync(store, &path).await?)),
        Command::Tree { path } => Ok(Done(Reply::Tree(
            walk::walk(store, &path, walk::System::Include).await?,
        ))),
        Command::Create {
            path,
            data,
            mode,
            ttl,
            acl,
        } => Ok(Done(
            write::create(store, &path, &data, mode, acl.as_deref(), ttl).await?,
        )),
        Command::Set {
            path,
            data,
            version,
            stat,
        } => Ok(Done(write::set(store, &path, &data, version, stat).await?)),
        Command::Delete { path, version } => Ok(Done(write::delete(store, &path, version).await?)),
        Command::DeleteAll { path } => Ok(Done(write::delete_all(store, &path).await?)),
        Command::SetAcl {
            path,
            acl,
            version,
            recursive,
        } => Ok(Done(
            write::set_acl(store, &path, &acl, version, recursive).await?,
        )),
        Command::AddAuth { scheme, auth } => {
            Ok(Done(write::add_auth(store, &scheme, &auth).await?))
        }
        Command::Watch { path, recursive } => watch::watch(store, path, recursive).await,
        Command::Export { path, file } => Ok(Done(transfer::export(store, &path, file).await?)),
        Command::Import { file, path } => Ok(Done(transfer::import(store, &file, &path).await?)),
        Command::Help { topic } => Ok(Done(Reply::Help(help(topic.as_deref())?))),
        Command::Quit => Ok(Done(Reply::Quit)),
    }
}

/// The `help` text: every command, or one command's usage.
pub fn help(topic: Option<&str>) -> Result<String, CmdError> {
    use super::parse::{COMMANDS, find_spec};
    match topic {
        None => {
            let width = COMMANDS.iter().map(|c| c.usage.len()).max().unwrap_or(0);
            let mut text = String::from("Commands:\n");
            for c in COMMANDS {
                text.push_str(&format!("  {:width$}  {}\n", c.usage, c.about));
            }
            text.push_str(
                "\nACLs are scheme:id:perms entries, comma separated, perms from cdrwa \
                 (e.g. world:anyone:r,digest:bob:HASH:cdrwa).\n",
            );
            Ok(text)
        }
        Some(name) => match find_spec(name) {
            Some(c) => Ok(format!("{}\n  {}\n", c.usage, c.about)),
            None => Err(UsageError::UnknownCommand(name.to_string()).into()),
        },
    }
}

#[cfg(test)]
mod tests;
