//! The test support itself: a child's output is kept out of the test run's output (shown
//! only when its test fails), so a passing run prints cargo's own lines alone.


use crate::support::*;

/// The emulator with `--verbose` logs every request on stderr: that log is captured for the
/// test (to show if it fails), not passed through to the terminal.
#[test]
fn a_test_servers_stderr_is_captured_not_passed_through() {
    let server = PythonServer::start("emulator.py", &["--port", "0", "--verbose"]);
    let url = server.ready.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&url).expect("connect");
    use std::io::{Read, Write};
    write!(
        stream,
        "GET /_emulator/calls HTTP/1.1\r\nHost: {url}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    assert!(answer.contains(" 200 "), "{answer}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !server.log_text().contains("/_emulator/calls") {
        assert!(
            std::time::Instant::now() < deadline,
            "the request log was not captured: {:?}",
            server.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
