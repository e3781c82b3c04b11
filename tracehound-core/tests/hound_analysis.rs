//! The built-in analyzers over hostile payloads: every report keeps the IPC protocol's rules,
//! carries no payload text, and is the same for the same bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::json;
use tracehound::hound::{
    Analyzer, Fact, FactValue, Facts, Finding, Indicators, Input, PayloadSummary, Report,
    builtin_analyzers,
};
use tracehound_codec::ipc::{self, MAX_FACTS, MAX_WORKER_FRAME};

/// A string that only ever reaches a report by leaking.
const MARKER: &str = "zqxmarkerzqx";

/// Every label the built-in analyzers may record.
const VOCABULARY: &[&str] = &[
    "object", "array", "string", "number", "bool", "null", "not-json", "json", "raw",
];

/// The findings of the built-in analyzers, as a worker would report them.
fn report(bytes: &[u8]) -> Report {
    let input = Input::new(bytes);
    let findings = builtin_analyzers()
        .into_iter()
        .map(|mut analyzer| {
            let mut facts = Facts::default();
            analyzer.analyze(&input, &mut facts);
            assert_eq!(facts.overflowed(), 0, "{} overflowed", analyzer.name());
            Finding {
                analyzer: analyzer.name().to_owned(),
                facts: facts.as_slice().to_vec(),
            }
        })
        .collect();
    Report {
        job: 1,
        decoded_size: bytes.len() as u64,
        decoded_hash: [0; 32],
        findings,
    }
}

fn names(report: &Report) -> Vec<Vec<String>> {
    report
        .findings
        .iter()
        .map(|finding| finding.facts.iter().map(|fact| fact.name.clone()).collect())
        .collect()
}

fn hostile_payloads() -> Vec<Vec<u8>> {
    let request = |body: serde_json::Value| {
        serde_json::to_vec(&json!({
            "method": "POST",
            "path": "/api/v1/search",
            "query": "q=%27%20OR%201%3D1--&next=http%3A%2F%2F10.0.0.1%2F",
            "headers": {"user-agent": "curl/8.0", "x-forwarded-for": "203.0.113.9, ::1"},
            "body": body,
        }))
        .unwrap()
    };
    let deep = format!("{}1{}", "[".repeat(127), "]".repeat(127));
    let random: Vec<u8> = (0..4096u32)
        .map(|n| (n.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    vec![
        Vec::new(),
        b"null".to_vec(),
        request(json!(
            "' UNION SELECT username, password FROM users WHERE 'a'='a' --"
        )),
        request(json!({"comment": "<script>alert(`1`)</script><img src=x onerror=alert(1)>"})),
        request(json!([
            "../../etc/passwd",
            "%2e%2e%2f%2e%2e%2fboot.ini",
            "..\\..\\win.ini"
        ])),
        request(json!({"to": "root@example.com", "via": "https://[2001:db8::1]:8443/x"})),
        request(json!({"blob": "SGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=", "hex": "deadbeefcafebabe0011"})),
        deep.into_bytes(),
        random,
        b"GET /?q=<svg/onload=alert(1)> HTTP/1.1\r\nHost: 198.51.100.4\r\n\r\n\x00\xff".to_vec(),
    ]
}

#[test]
fn reports_keep_the_protocol_rules() {
    for payload in hostile_payloads() {
        let report = report(&payload);
        report.validate().unwrap();
        for finding in &report.findings {
            assert!(finding.facts.len() <= MAX_FACTS);
        }
        let mut frame = Vec::new();
        ipc::encode_frame(&mut frame, &report, MAX_WORKER_FRAME).unwrap();
    }
}

#[test]
fn the_report_shape_does_not_depend_on_the_payload() {
    let payloads = hostile_payloads();
    let shape = names(&report(&payloads[0]));
    assert_eq!(shape.len(), 2);
    assert_eq!(shape[0].len(), 25);
    assert_eq!(shape[1].len(), 29);
    for payload in &payloads {
        assert_eq!(names(&report(payload)), shape);
    }
}

#[test]
fn no_fact_carries_payload_text() {
    let marker_everywhere = json!({
        MARKER: MARKER,
        "path": format!("/{MARKER}/../{MARKER}"),
        "query": format!("{MARKER}=%27{MARKER}%27&u=http://{MARKER}.example/{MARKER}"),
        "headers": {"from": format!("{MARKER}@{MARKER}.example"), "x": [MARKER, {MARKER: 1}]},
        "body": format!("<script>{MARKER}</script>' OR '{MARKER}'='{MARKER}"),
    });
    let payloads = [
        serde_json::to_vec(&marker_everywhere).unwrap(),
        format!("{MARKER} http://{MARKER}/ {MARKER}@{MARKER}.com \u{ff}").into_bytes(),
        MARKER.as_bytes().to_vec(),
    ];
    for payload in payloads {
        let report = report(&payload);
        for fact in report.findings.iter().flat_map(|finding| &finding.facts) {
            assert!(!fact.name.contains(MARKER));
            match &fact.value {
                FactValue::Label(label) => assert!(VOCABULARY.contains(&label.as_str()), "{label}"),
                FactValue::Count(_) | FactValue::Flag(_) => {}
                other => panic!("unexpected fact {other:?}"),
            }
        }
        // Nor does the wire form, byte for byte.
        let mut frame = Vec::new();
        ipc::encode_frame(&mut frame, &report, MAX_WORKER_FRAME).unwrap();
        assert!(!frame.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()));
        assert!(!format!("{report:?}").contains(MARKER));
    }
}

#[test]
fn the_same_bytes_give_the_same_facts() {
    for payload in hostile_payloads() {
        let first = report(&payload);
        let second = report(&payload);
        assert_eq!(first, second);
        // And from a fresh analyzer on another thread.
        let third = std::thread::spawn(move || report(&payload)).join().unwrap();
        assert_eq!(first, third);
    }
}

#[test]
fn a_request_payload_end_to_end() {
    let payload = serde_json::to_vec(&json!({
        "method": "GET",
        "path": "/search",
        "query": "q=1%27%20UNION%20SELECT%20password%20FROM%20users--",
        "headers": {"x-real-ip": "198.51.100.23"},
    }))
    .unwrap();
    let input = Input::new(&payload);
    let count = |analyzer: &mut dyn Analyzer, name: &str| {
        let mut facts = Facts::default();
        analyzer.analyze(&input, &mut facts);
        facts
            .as_slice()
            .iter()
            .find(|fact| fact.name == name)
            .map(|fact: &Fact| fact.value.clone())
    };
    assert_eq!(
        count(&mut PayloadSummary, "json.kind"),
        Some(FactValue::Label("object".into()))
    );
    assert_eq!(
        count(&mut PayloadSummary, "json.fields"),
        Some(FactValue::Count(5))
    );
    assert_eq!(
        count(&mut PayloadSummary, "encoding.percent"),
        Some(FactValue::Count(6))
    );
    assert_eq!(
        count(&mut Indicators, "sql.union_select"),
        Some(FactValue::Count(1))
    );
    assert_eq!(
        count(&mut Indicators, "sql.keyword"),
        Some(FactValue::Count(3))
    );
    assert_eq!(
        count(&mut Indicators, "sql.comment"),
        Some(FactValue::Count(1))
    );
    assert_eq!(count(&mut Indicators, "ipv4"), Some(FactValue::Count(1)));
    assert_eq!(
        count(&mut Indicators, "strings.percent_decoded"),
        Some(FactValue::Count(1))
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in vec(any::<u8>(), 0..2048)) {
        let report = report(&bytes);
        prop_assert!(report.validate().is_ok());
        prop_assert_eq!(names(&report), names(&self::report(b"")));
        prop_assert_eq!(&report, &self::report(&bytes));
    }

    #[test]
    fn arbitrary_strings_in_json(strings in vec(".{0,64}", 0..16)) {
        let bytes = serde_json::to_vec(&json!({"path": strings.clone(), "body": strings.join("")})).unwrap();
        let report = report(&bytes);
        prop_assert!(report.validate().is_ok());
        prop_assert_eq!(&report.findings[0].facts[2].value, &FactValue::Label("object".into()));
        prop_assert_eq!(&report, &self::report(&bytes));
    }
}
