mod model;
mod semantics;
