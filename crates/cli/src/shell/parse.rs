//! The shell's command language, shared by the interactive shell and one-shot mode.
//!
//! A command is a list of words (one-shot mode gets them from the process arguments, the shell
//! from [`tokenize`]). [`parse`] turns the words into a [`Command`] and checks everything that can
//! be checked without a server: flags, paths (ZooKeeper's path rules), versions, TTLs and ACLs.
//! Flags may stand anywhere among the words, as in zkCli; `--` ends the flags so that data may
//! begin with `-`.

use std::fmt;
use std::path::PathBuf;

use watchkeeper_proto::{Acl, CreateMode};

use super::acl::parse_acl;

/// Longest command line the shell tokenizes; longer input is refused rather than buffered.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Largest TTL ZooKeeper accepts (40 bits of milliseconds, `EphemeralType.TTL.maxValue`).
pub const MAX_TTL_MS: i64 = 0xFF_FFFF_FFFF;

/// One parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ls {
        path: String,
        recursive: bool,
        stat: bool,
        watch: bool,
    },
    Get {
        path: String,
        stat: bool,
        watch: bool,
    },
    Set {
        path: String,
        data: Vec<u8>,
        version: Option<i32>,
        stat: bool,
    },
    Create {
        path: String,
        data: Vec<u8>,
        mode: CreateMode,
        ttl: Option<i64>,
        acl: Option<Vec<Acl>>,
    },
    Delete {
        path: String,
        version: Option<i32>,
    },
    DeleteAll {
        path: String,
    },
    Stat {
        path: String,
        watch: bool,
    },
    GetAcl {
        path: String,
        stat: bool,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: Option<i32>,
        recursive: bool,
    },
    AddAuth {
        scheme: String,
        auth: Vec<u8>,
    },
    Sync {
        path: String,
    },
    Watch {
        path: String,
        recursive: bool,
    },
    Tree {
        path: String,
    },
    Export {
        path: String,
        file: Option<PathBuf>,
    },
    Import {
        file: PathBuf,
        path: String,
    },
    Help {
        topic: Option<String>,
    },
    Quit,
}

/// What a command looks like, for `help`, usage errors and completion.
#[derive(Debug)]
pub struct CommandSpec {
    pub name: &'static str,
    pub usage: &'static str,
    pub about: &'static str,
    /// Whether positional words of this command are znode paths (drives tab completion).
    pub takes_path: bool,
}

/// Every command, in the order `help` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "ls",
        "ls [-R] [-s] [-w] PATH",
        "list children (-R: the whole subtree)",
        true,
    ),
    spec("get", "get [-s] [-w] PATH", "print a node's data", true),
    spec(
        "set",
        "set [-s] [-v VERSION] PATH DATA",
        "replace a node's data",
        true,
    ),
    spec(
        "create",
        "create [-e] [-s] [-c] [-t TTL_MS] PATH [DATA] [ACL]",
        "create a node (-e ephemeral, -s sequential, -c container, -t TTL)",
        true,
    ),
    spec(
        "delete",
        "delete [-v VERSION] PATH",
        "delete a childless node",
        true,
    ),
    spec(
        "deleteall",
        "deleteall PATH",
        "delete a node and its subtree",
        true,
    ),
    spec("stat", "stat [-w] PATH", "print a node's metadata", true),
    spec("getAcl", "getAcl [-s] PATH", "print a node's ACL", true),
    spec(
        "setAcl",
        "setAcl [-R] [-v VERSION] PATH ACL",
        "replace a node's ACL, e.g. world:anyone:r,digest:bob:HASH:cdrwa",
        true,
    ),
    spec(
        "addauth",
        "addauth SCHEME AUTH",
        "add credentials to the session, e.g. addauth digest bob:secret",
        false,
    ),
    spec(
        "sync",
        "sync PATH",
        "wait until the server is up to date with the leader",
        true,
    ),
    spec(
        "watch",
        "watch [-r] PATH",
        "print events until Ctrl-C (persistent watch; -r: the whole subtree)",
        true,
    ),
    spec("tree", "tree PATH", "draw the subtree", true),
    spec(
        "export",
        "export PATH [FILE]",
        "write the subtree as JSON (to stdout without FILE)",
        true,
    ),
    spec(
        "import",
        "import FILE PATH",
        "create the subtree read from an export file under PATH",
        true,
    ),
    spec(
        "help",
        "help [COMMAND]",
        "list commands or describe one",
        false,
    ),
    spec(
        "quit",
        "quit",
        "leave the shell (also: exit, Ctrl-D)",
        false,
    ),
];

const fn spec(
    name: &'static str,
    usage: &'static str,
    about: &'static str,
    takes_path: bool,
) -> CommandSpec {
    CommandSpec {
        name,
        usage,
        about,
        takes_path,
    }
}

/// Finds a command's spec by name (as typed; `exit` is `quit`).
pub fn find_spec(name: &str) -> Option<&'static CommandSpec> {
    let name = if name == "exit" { "quit" } else { name };
    COMMANDS.iter().find(|c| c.name == name)
}

/// Why a command line was refused before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    /// No words at all.
    Empty,
    UnknownCommand(String),
    UnknownFlag {
        command: &'static str,
        flag: String,
    },
    MissingFlagValue {
        command: &'static str,
        flag: String,
    },
    /// Wrong number of positional words.
    Arity {
        command: &'static str,
    },
    BadNumber {
        what: &'static str,
        value: String,
    },
    BadPath {
        path: String,
        why: &'static str,
    },
    BadAcl(String),
    /// Flags that cannot go together (zkCli's own messages where it has one).
    Conflict(&'static str),
    UnterminatedQuote,
    LineTooLong,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let usage = |command: &'static str| find_spec(command).map_or(command, |s| s.usage);
        match self {
            UsageError::Empty => write!(f, "no command given (try `help`)"),
            UsageError::UnknownCommand(c) => write!(f, "unknown command `{c}` (try `help`)"),
            UsageError::UnknownFlag { command, flag } => {
                write!(f, "unknown flag `{flag}`; usage: {}", usage(command))
            }
            UsageError::MissingFlagValue { command, flag } => {
                write!(f, "flag `{flag}` needs a value; usage: {}", usage(command))
            }
            UsageError::Arity { command } => write!(f, "usage: {}", usage(command)),
            UsageError::BadNumber { what, value } => {
                write!(f, "{what} must be a number, not `{value}`")
            }
            UsageError::BadPath { path, why } => write!(f, "invalid path `{path}`: {why}"),
            UsageError::BadAcl(why) => write!(f, "invalid ACL: {why}"),
            UsageError::Conflict(why) => f.write_str(why),
            UsageError::UnterminatedQuote => write!(f, "unterminated quote"),
            UsageError::LineTooLong => write!(f, "line longer than {MAX_LINE_BYTES} bytes"),
        }
    }
}

impl std::error::Error for UsageError {}

/// Splits a shell line into words: whitespace separates; `'…'` is literal; `"…"` honours `\"`
/// and `\\`; a backslash outside quotes escapes the next character.
pub fn tokenize(line: &str) -> Result<Vec<String>, UsageError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(UsageError::LineTooLong);
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(UsageError::UnterminatedQuote),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(UsageError::UnterminatedQuote),
                        },
                        Some(c) => word.push(c),
                        None => return Err(UsageError::UnterminatedQuote),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Parses one command from its words (the first word is the command name).
pub fn parse<S: AsRef<str>>(words: &[S]) -> Result<Command, UsageError> {
    let Some((name, rest)) = words.split_first() else {
        return Err(UsageError::Empty);
    };
    let rest: Vec<&str> = rest.iter().map(AsRef::as_ref).collect();
    let name = name.as_ref();
    let spec = find_spec(name).ok_or_else(|| UsageError::UnknownCommand(name.to_string()))?;
    let cmd = spec.name;
    match cmd {
        "ls" => {
            let a = Args::split(cmd, &rest, &["-R", "-s", "-w"], &[])?;
            let [path] = a.positional::<1>()?;
            Ok(Command::Ls {
                path: checked_path(path)?,
                recursive: a.has("-R"),
                stat: a.has("-s"),
                watch: a.has("-w"),
            })
        }
        "get" => {
            let a = Args::split(cmd, &rest, &["-s", "-w"], &[])?;
            let [path] = a.positional::<1>()?;
            Ok(Command::Get {
                path: checked_path(path)?,
                stat: a.has("-s"),
                watch: a.has("-w"),
            })
        }
        "set" => {
            let a = Args::split(cmd, &rest, &["-s"], &["-v"])?;
            let [path, data] = a.positional::<2>()?;
            Ok(Command::Set {
                path: checked_path(path)?,
                data: data.as_bytes().to_vec(),
                version: a.version()?,
                stat: a.has("-s"),
            })
        }
        "create" => parse_create(&rest),
        "delete" => {
            let a = Args::split(cmd, &rest, &[], &["-v"])?;
            let [path] = a.positional::<1>()?;
            Ok(Command::Delete {
                path: checked_path(path)?,
                version: a.version()?,
            })
        }
        "deleteall" => {
            let a = Args::split(cmd, &rest, &[], &[])?;
            let [path] = a.positional::<1>()?;
            Ok(Command::DeleteAll {
                path: checked_path(path)?,
            })
        }
        "stat" => {
            let a = Args::split(cmd, &rest, &["-w"], &[])?;
            let [path] = a.positional::<1>()?;
            Ok(Command::Stat {
                path: checked_path(path)?,
                watch: a.has("-w"),
            })
        }
        "getAcl" => {
            let a = Args::split(cmd, &rest, &["-s"], &[])?;
            let [path] = a.positional::<1>()?;
            Ok(Command::GetAcl {
                path: checked_path(path)?,
                stat: a.has("-s"),
            })
        }
        "setAcl" => {
            let a = Args::split(cmd, &rest, &["-R"], &["-v"])?;
            let [path, acl] = a.positional::<2>()?;
            Ok(Command::SetAcl {
                path: checked_path(path)?,
                acl: parse_acl(acl).map_err(|e| UsageError::BadAcl(e.to_string()))?,
                version: a.version()?,
                recursive: a.has("-R"),
            })
        }
        "addauth" => {
            let a = Args::split(cmd, &rest, &[], &[])?;
            let [scheme, auth] = a.positional::<2>()?;
            Ok(Command::AddAuth {
                scheme: scheme.to_string(),
                auth: auth.as_bytes().to_vec(),
            })
        }
        "sync" => {
            let a = Args::split(cmd, &rest, &[], &[])?;
            let [path] = a.positional::<1>()?;
            Ok(Command::Sync {
                path: checked_path(path)?,
            })
        }
        "watch" => {
            let a = Args::split(cmd, &rest, &["-r"], &[])?;
            let [path] = a.positional::<1>()?;
            Ok(Command::Watch {
                path: checked_path(path)?,
                recursive: a.has("-r"),
            })
        }
        "tree" => {
            let a = Args::split(cmd, &rest, &[], &[])?;
            let [path] = a.positional::<1>()?;
            Ok(Command::Tree {
                path: checked_path(path)?,
            })
        }
        "export" => {
            let a = Args::split(cmd, &rest, &[], &[])?;
            match a.positional.as_slice() {
                [path] => Ok(Command::Export {
                    path: checked_path(path)?,
                    file: None,
                }),
                [path, file] => Ok(Command::Export {
                    path: checked_path(path)?,
                    file: Some(PathBuf::from(file)),
                }),
                _ => Err(UsageError::Arity { command: cmd }),
            }
        }
        "import" => {
            let a = Args::split(cmd, &rest, &[], &[])?;
            let [file, path] = a.positional::<2>()?;
            Ok(Command::Import {
                file: PathBuf::from(file),
                path: checked_path(path)?,
            })
        }
        "help" => match rest.as_slice() {
            [] => Ok(Command::Help { topic: None }),
            [topic] => Ok(Command::Help {
                topic: Some(topic.to_string()),
            }),
            _ => Err(UsageError::Arity { command: cmd }),
        },
        "quit" => match rest.as_slice() {
            [] => Ok(Command::Quit),
            _ => Err(UsageError::Arity { command: cmd }),
        },
        _ => Err(UsageError::UnknownCommand(name.to_string())),
    }
}

fn parse_create(rest: &[&str]) -> Result<Command, UsageError> {
    let cmd = "create";
    let a = Args::split(cmd, rest, &["-e", "-s", "-c"], &["-t"])?;
    let (path, data, acl) = match a.positional.as_slice() {
        [path] => (*path, "", None),
        [path, data] => (*path, *data, None),
        [path, data, acl] => (*path, *data, Some(*acl)),
        _ => return Err(UsageError::Arity { command: cmd }),
    };
    let (e, s, c) = (a.has("-e"), a.has("-s"), a.has("-c"));
    let ttl = match a.value("-t") {
        None => None,
        Some(v) => {
            let ttl: i64 = v.parse().map_err(|_| UsageError::BadNumber {
                what: "TTL",
                value: v.to_string(),
            })?;
            if !(1..=MAX_TTL_MS).contains(&ttl) {
                return Err(UsageError::Conflict(
                    "TTL must be between 1 and 1099511627775 ms",
                ));
            }
            Some(ttl)
        }
    };
    if c && (e || s) {
        return Err(UsageError::Conflict(
            "-c cannot be combined with -s or -e: containers cannot be ephemeral or sequential",
        ));
    }
    if ttl.is_some() && e {
        return Err(UsageError::Conflict(
            "TTLs cannot be used with ephemeral znodes",
        ));
    }
    if ttl.is_some() && c {
        return Err(UsageError::Conflict(
            "TTLs cannot be used with container znodes",
        ));
    }
    let mode = match (e, s, c, ttl.is_some()) {
        (_, true, _, true) => CreateMode::PersistentSequentialWithTtl,
        (_, false, _, true) => CreateMode::PersistentWithTtl,
        (true, true, _, _) => CreateMode::EphemeralSequential,
        (true, false, _, _) => CreateMode::Ephemeral,
        (false, true, _, _) => CreateMode::PersistentSequential,
        (false, false, true, _) => CreateMode::Container,
        (false, false, false, _) => CreateMode::Persistent,
    };
    // A sequential node's path names the parent plus a prefix, so it may end in '/'.
    let path = if s && path.ends_with('/') && path.len() > 1 {
        checked_path(&path[..path.len() - 1])?;
        path.to_string()
    } else {
        checked_path(path)?
    };
    let acl = match acl {
        None => None,
        Some(text) => Some(parse_acl(text).map_err(|e| UsageError::BadAcl(e.to_string()))?),
    };
    Ok(Command::Create {
        path,
        data: data.as_bytes().to_vec(),
        mode,
        ttl,
        acl,
    })
}

/// A command's words split into flags and positionals.
struct Args<'a> {
    command: &'static str,
    flags: Vec<&'a str>,
    values: Vec<(&'a str, &'a str)>,
    positional: Vec<&'a str>,
}

impl<'a> Args<'a> {
    fn split(
        command: &'static str,
        words: &[&'a str],
        switches: &[&str],
        valued: &[&str],
    ) -> Result<Args<'a>, UsageError> {
        let mut a = Args {
            command,
            flags: Vec::new(),
            values: Vec::new(),
            positional: Vec::new(),
        };
        let mut it = words.iter();
        while let Some(&w) = it.next() {
            if w == "--" {
                a.positional.extend(it.by_ref().copied());
                break;
            }
            if w.len() > 1 && w.starts_with('-') {
                if switches.contains(&w) {
                    a.flags.push(w);
                } else if valued.contains(&w) {
                    let v = it.next().ok_or_else(|| UsageError::MissingFlagValue {
                        command,
                        flag: w.to_string(),
                    })?;
                    a.values.push((w, v));
                } else {
                    return Err(UsageError::UnknownFlag {
                        command,
                        flag: w.to_string(),
                    });
                }
            } else {
                a.positional.push(w);
            }
        }
        Ok(a)
    }

    fn has(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }

    fn value(&self, flag: &str) -> Option<&'a str> {
        self.values
            .iter()
            .rev()
            .find(|(f, _)| *f == flag)
            .map(|(_, v)| *v)
    }

    fn version(&self) -> Result<Option<i32>, UsageError> {
        match self.value("-v") {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| UsageError::BadNumber {
                what: "version",
                value: v.to_string(),
            }),
        }
    }

    fn positional<const N: usize>(&self) -> Result<[&'a str; N], UsageError> {
        <[&str; N]>::try_from(self.positional.as_slice()).map_err(|_| UsageError::Arity {
            command: self.command,
        })
    }
}

/// Checks ZooKeeper's path rules (`PathUtils.validatePath`) and returns the path.
pub fn checked_path(path: &str) -> Result<String, UsageError> {
    let bad = |why| {
        Err(UsageError::BadPath {
            path: path.to_string(),
            why,
        })
    };
    if !path.starts_with('/') {
        return bad("a path must start with /");
    }
    if path == "/" {
        return Ok(path.to_string());
    }
    if path.ends_with('/') {
        return bad("a path must not end with /");
    }
    for segment in path[1..].split('/') {
        match segment {
            "" => return bad("empty segment (//)"),
            "." | ".." => return bad("relative segments (. or ..) are not allowed"),
            _ => {}
        }
        if segment.chars().any(is_forbidden_char) {
            return bad("control or reserved characters are not allowed");
        }
    }
    Ok(path.to_string())
}

/// The characters `PathUtils.validatePath` refuses.
/// (Surrogates, which ZooKeeper also refuses, cannot occur in a Rust string.)
fn is_forbidden_char(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{e000}'..='\u{f8ff}' | '\u{fff0}'..='\u{ffff}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchkeeper_proto::{Id, perms};

    fn p(line: &str) -> Result<Command, UsageError> {
        parse(&tokenize(line).unwrap())
    }

    #[test]
    fn tokenize_quotes_and_escapes() {
        assert_eq!(tokenize("  set /a  b ").unwrap(), ["set", "/a", "b"]);
        assert_eq!(
            tokenize(r#"set /a "hello world""#).unwrap(),
            ["set", "/a", "hello world"]
        );
        assert_eq!(
            tokenize(r#"set /a 'it "is"'"#).unwrap(),
            ["set", "/a", r#"it "is""#]
        );
        assert_eq!(
            tokenize(r#"set /a "q\"x\\y\n""#).unwrap(),
            ["set", "/a", r#"q"x\y\n"#]
        );
        assert_eq!(tokenize(r"set /a b\ c").unwrap(), ["set", "/a", "b c"]);
        assert_eq!(tokenize(r#"set /a """#).unwrap(), ["set", "/a", ""]);
        assert_eq!(tokenize("").unwrap(), Vec::<String>::new());
        assert_eq!(tokenize("get 'x"), Err(UsageError::UnterminatedQuote));
        assert_eq!(tokenize("get \"x"), Err(UsageError::UnterminatedQuote));
    }

    #[test]
    fn flags_anywhere_and_double_dash() {
        assert_eq!(
            p("ls -R /a -s").unwrap(),
            Command::Ls {
                path: "/a".into(),
                recursive: true,
                stat: true,
                watch: false
            }
        );
        assert_eq!(
            p("set /a -v 3 data").unwrap(),
            Command::Set {
                path: "/a".into(),
                data: b"data".to_vec(),
                version: Some(3),
                stat: false
            }
        );
        assert_eq!(
            p("set /a -- -1").unwrap(),
            Command::Set {
                path: "/a".into(),
                data: b"-1".to_vec(),
                version: None,
                stat: false
            }
        );
        assert_eq!(
            p("ls -x /a"),
            Err(UsageError::UnknownFlag {
                command: "ls",
                flag: "-x".into()
            })
        );
        assert_eq!(
            p("delete /a -v"),
            Err(UsageError::MissingFlagValue {
                command: "delete",
                flag: "-v".into()
            })
        );
        assert!(matches!(
            p("delete -v x /a"),
            Err(UsageError::BadNumber { .. })
        ));
    }

    #[test]
    fn create_modes_follow_zkcli() {
        let mode = |line: &str| match p(line).unwrap() {
            Command::Create { mode, .. } => mode,
            other => panic!("{other:?}"),
        };
        assert_eq!(mode("create /a"), CreateMode::Persistent);
        assert_eq!(mode("create -e /a"), CreateMode::Ephemeral);
        assert_eq!(mode("create -s /a"), CreateMode::PersistentSequential);
        assert_eq!(mode("create -e -s /a"), CreateMode::EphemeralSequential);
        assert_eq!(mode("create -c /a"), CreateMode::Container);
        assert_eq!(mode("create -t 10 /a"), CreateMode::PersistentWithTtl);
        assert_eq!(
            mode("create -s -t 10 /a"),
            CreateMode::PersistentSequentialWithTtl
        );
        assert!(matches!(p("create -c -e /a"), Err(UsageError::Conflict(_))));
        assert!(matches!(
            p("create -t 5 -e /a"),
            Err(UsageError::Conflict(_))
        ));
        assert!(matches!(
            p("create -t 5 -c /a"),
            Err(UsageError::Conflict(_))
        ));
        assert!(matches!(p("create -t 0 /a"), Err(UsageError::Conflict(_))));
        assert!(matches!(
            p("create -t x /a"),
            Err(UsageError::BadNumber { .. })
        ));
        // Sequential nodes may be named by their parent alone.
        assert!(matches!(p("create -s /a/"), Ok(Command::Create { path, .. }) if path == "/a/"));
        assert!(matches!(p("create /a/"), Err(UsageError::BadPath { .. })));
    }

    #[test]
    fn create_with_data_and_acl() {
        assert_eq!(
            p("create /a hello world:anyone:r").unwrap(),
            Command::Create {
                path: "/a".into(),
                data: b"hello".to_vec(),
                mode: CreateMode::Persistent,
                ttl: None,
                acl: Some(vec![Acl::new(perms::READ, Id::anyone())]),
            }
        );
        assert!(matches!(
            p("create /a x nonsense"),
            Err(UsageError::BadAcl(_))
        ));
        assert_eq!(
            p("create /a b c d"),
            Err(UsageError::Arity { command: "create" })
        );
    }

    #[test]
    fn arity_and_unknown_commands() {
        assert_eq!(p("get"), Err(UsageError::Arity { command: "get" }));
        assert_eq!(p("get /a /b"), Err(UsageError::Arity { command: "get" }));
        assert_eq!(
            p("frobnicate /a"),
            Err(UsageError::UnknownCommand("frobnicate".into()))
        );
        assert_eq!(p(""), Err(UsageError::Empty));
        assert_eq!(p("exit").unwrap(), Command::Quit);
        assert_eq!(
            p("export /a").unwrap(),
            Command::Export {
                path: "/a".into(),
                file: None
            }
        );
        assert_eq!(
            p("import f.json /b").unwrap(),
            Command::Import {
                file: "f.json".into(),
                path: "/b".into()
            }
        );
        assert_eq!(
            p("watch -r /a").unwrap(),
            Command::Watch {
                path: "/a".into(),
                recursive: true
            }
        );
    }

    #[test]
    fn usage_errors_name_the_usage() {
        let msg = p("getAcl").unwrap_err().to_string();
        assert_eq!(msg, "usage: getAcl [-s] PATH");
    }

    #[test]
    fn path_rules() {
        for ok in ["/", "/a", "/a/b", "/a.b/..c", "/zookeeper"] {
            assert_eq!(checked_path(ok).unwrap(), ok);
        }
        for bad in [
            "", "a", "/a/", "//a", "/a//b", "/a/./b", "/a/..", "/a\u{0}b", "/a\u{1}",
        ] {
            assert!(checked_path(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn every_spec_parses_its_own_usage_shape() {
        // Each listed command is known to the parser (no spec without a parser arm).
        for spec in COMMANDS {
            let err = parse(&[spec.name, "--bogus-flag"]);
            assert!(
                !matches!(err, Err(UsageError::UnknownCommand(_))),
                "{} has no parser",
                spec.name
            );
        }
    }
}
