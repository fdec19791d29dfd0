//! The `nbu_exporter` binary: parse flags and hand over to [`nbu_exporter::app`].

fn main() {
    let code = match nbu_exporter::cli::Cli::parse(std::env::args().skip(1)) {
        Ok(cli) => nbu_exporter::app::run(cli),
        Err(e) => {
            eprintln!("nbu_exporter: {e}");
            2
        }
    };
    std::process::exit(code);
}
