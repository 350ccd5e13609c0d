fn main() {
    sluice_standalone::main();
}
