//! `watch [-r] PATH`: a persistent watch (addWatch mode 0) or, with `-r`, a
//! persistent-recursive one (mode 1). The caller streams its events until Ctrl-C; dropping the
//! stream removes the watch from the server.

use watchkeeper_proto::AddWatchMode;

use super::{CmdError, Outcome};
use crate::shell::store::Store;

pub async fn watch<S: Store>(
    store: &S,
    path: String,
    recursive: bool,
) -> Result<Outcome<S>, CmdError> {
    let mode = if recursive {
        AddWatchMode::PersistentRecursive
    } else {
        AddWatchMode::Persistent
    };
    let events = store
        .add_watch(&path, mode)
        .await
        .map_err(|e| CmdError::at(&path, e))?;
    Ok(Outcome::Stream { path, events })
}
