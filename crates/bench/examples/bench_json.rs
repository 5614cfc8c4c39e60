//! Runs a benchmark described by a JSON `BenchArgs` file, without the `watchkeeper` binary:
//!
//! ```text
//! cargo run --release -p watchkeeper-bench --example bench_json -- ARGS.json [REPORT.json]
//! cargo run --release -p watchkeeper-bench --example bench_json -- --plot OUT_DIR REPORT.json...
//! ```
//!
//! Prints the report's table; writes its JSON when a second path is given. Durations in the
//! JSON are `{"secs": N, "nanos": N}`. Meant for developing the benchmark itself; users run
//! `watchkeeper bench`.

use std::path::PathBuf;
use std::process::ExitCode;

use watchkeeper_bench::{BenchArgs, plot_files, run};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, out, inputs @ ..] if flag == "--plot" && !inputs.is_empty() => {
            let inputs: Vec<PathBuf> = inputs.iter().map(PathBuf::from).collect();
            match plot_files(&inputs, &PathBuf::from(out)) {
                Ok(written) => {
                    for p in written {
                        println!("wrote {}", p.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e.to_string()),
            }
        }
        [spec] | [spec, _] => {
            let text = match std::fs::read_to_string(spec) {
                Ok(t) => t,
                Err(e) => return fail(&format!("{spec}: {e}")),
            };
            let bench: BenchArgs = match serde_json::from_str(&text) {
                Ok(b) => b,
                Err(e) => return fail(&format!("{spec}: {e}")),
            };
            match run(bench).await {
                Ok(report) => {
                    print!("{}", report.render_table());
                    if let Some(out) = args.get(1)
                        && let Err(e) = std::fs::write(out, report.to_json())
                    {
                        return fail(&format!("{out}: {e}"));
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e.to_string()),
            }
        }
        _ => fail("usage: bench_json ARGS.json [REPORT.json] | --plot OUT_DIR REPORT.json..."),
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("bench_json: {msg}");
    ExitCode::FAILURE
}
