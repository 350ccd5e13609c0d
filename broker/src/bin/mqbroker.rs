fn main() {
    sluice_broker::cli::main();
}
