//! Every example runs: each `examples/NAME.rs` is compiled in here as a module
//! and its `main` is called (examples stay fast: under 2 s each in this profile).

#[path = "../examples/batches_and_epochs.rs"]
mod batches_and_epochs;
#[path = "../examples/computation_graph.rs"]
mod computation_graph;
#[path = "../examples/gradient_descent.rs"]
mod gradient_descent;
#[path = "../examples/linear_regression.rs"]
mod linear_regression;
#[path = "../examples/logistic_regression.rs"]
mod logistic_regression;
#[path = "../examples/sigmoid_sum_regression.rs"]
mod sigmoid_sum_regression;

#[test]
fn linear_regression() {
    linear_regression::main().unwrap();
}

#[test]
fn sigmoid_sum_regression() {
    sigmoid_sum_regression::main().unwrap();
}

#[test]
fn computation_graph() {
    computation_graph::main().unwrap();
}

#[test]
fn gradient_descent() {
    gradient_descent::main().unwrap();
}

#[test]
fn batches_and_epochs() {
    batches_and_epochs::main().unwrap();
}

#[test]
fn logistic_regression() {
    logistic_regression::main().unwrap();
}
