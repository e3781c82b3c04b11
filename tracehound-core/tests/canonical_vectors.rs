//! Known answers for canonical encoding and signatures: the TypeScript library's vectors,
//! RFC 8785's examples, and thousands of cases generated from Node's own formatting.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly

use serde_json::Value;
use tracehound::{CanonicalForm, Category, Digest, canonicalize, signature};

fn shared(path: &str) -> Value {
    let full = format!(
        "{}/../../shared/testdata/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn local(path: &str) -> Value {
    let full = format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(full).unwrap()).unwrap()
}

fn text(value: &Value, form: CanonicalForm) -> String {
    String::from_utf8(canonicalize(value, form).unwrap()).unwrap()
}

#[test]
fn typescript_signature_vectors() {
    let vectors = shared("tracehound-ts/vectors.json");
    let cases = vectors["signatures"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    for case in cases {
        let payload = match case.get("payload") {
            Some(p) => p.clone(),
            None => serde_json::from_str(case["payload_json_text"].as_str().unwrap()).unwrap(),
        };
        let category: Category = case["category"].as_str().unwrap().parse().unwrap();
        let canonical = case["canonical"].as_str().unwrap();
        assert_eq!(text(&payload, CanonicalForm::TracehoundJs), canonical);
        let sig = signature(category, &payload, CanonicalForm::TracehoundJs).unwrap();
        assert_eq!(sig.to_string(), case["signature"].as_str().unwrap());
        assert_eq!(*sig.digest(), Digest::of(canonical.as_bytes()));
    }
}

#[test]
fn typescript_key_order_example() {
    let vectors = shared("tracehound-ts/vectors.json");
    let example = &vectors["key_order_example"];
    let input: Value = serde_json::from_str(example["input_json_text"].as_str().unwrap()).unwrap();
    assert_eq!(
        text(&input, CanonicalForm::TracehoundJs),
        example["canonical"].as_str().unwrap()
    );
    // The same object in RFC 8785 order: plain UTF-16 order, no special case for indexes.
    assert_eq!(
        text(&input, CanonicalForm::Jcs),
        r#"{"01":7,"10":3,"9":4,"B":5,"a":2,"b":1,"é":6}"#
    );
}

#[test]
fn rfc8785_sample_object() {
    let input: Value = serde_json::from_str(
        r#"{
            "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]
        }"#,
    )
    .unwrap();
    assert_eq!(
        text(&input, CanonicalForm::Jcs),
        r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
    );
}

#[test]
fn rfc8785_sorting_example() {
    let input: Value = serde_json::from_str(
        r#"{
            "\u20ac": "Euro Sign",
            "\r": "Carriage Return",
            "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\ud83d\ude00": "Emoji: Grinning Face",
            "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#,
    )
    .unwrap();
    let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
        \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
        \"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
    assert_eq!(text(&input, CanonicalForm::Jcs), expected);
}

#[test]
fn rfc8785_number_table() {
    // RFC 8785 Appendix B: IEEE-754 bit patterns and their canonical text.
    let table = [
        ("0000000000000000", "0"),
        ("8000000000000000", "0"),
        ("0000000000000001", "5e-324"),
        ("8000000000000001", "-5e-324"),
        ("7fefffffffffffff", "1.7976931348623157e+308"),
        ("ffefffffffffffff", "-1.7976931348623157e+308"),
        ("4340000000000000", "9007199254740992"),
        ("c340000000000000", "-9007199254740992"),
        ("4430000000000000", "295147905179352830000"),
        ("44b52d02c7e14af5", "9.999999999999997e+22"),
        ("44b52d02c7e14af6", "1e+23"),
        ("44b52d02c7e14af7", "1.0000000000000001e+23"),
        ("444b1ae4d6e2ef4e", "999999999999999700000"),
        ("444b1ae4d6e2ef4f", "999999999999999900000"),
        ("444b1ae4d6e2ef50", "1e+21"),
        ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
        ("3eb0c6f7a0b5ed8d", "0.000001"),
        ("41b3de4355555553", "333333333.3333332"),
        ("41b3de4355555554", "333333333.33333325"),
        ("41b3de4355555555", "333333333.3333333"),
        ("41b3de4355555556", "333333333.3333334"),
        ("41b3de4355555557", "333333333.33333343"),
        ("becbf647612f3696", "-0.0000033333333333333333"),
        ("43143ff3c1cb0959", "1424953923781206.2"),
    ];
    for (bits, expected) in table {
        assert_eq!(number_text(bits), expected, "bits {bits}");
    }
}

fn number_text(bits: &str) -> String {
    let value = f64::from_bits(u64::from_str_radix(bits, 16).unwrap());
    let number = serde_json::Number::from_f64(value).unwrap();
    text(&Value::Number(number), CanonicalForm::Jcs)
}

#[test]
fn node_number_formatting() {
    let vectors = local("canonical-vectors.json");
    let numbers = vectors["numbers"].as_array().unwrap();
    assert!(numbers.len() >= 3000);
    for case in numbers {
        let bits = case["bits"].as_str().unwrap();
        assert_eq!(
            number_text(bits),
            case["text"].as_str().unwrap(),
            "bits {bits}"
        );
    }
}

#[test]
fn node_random_trees_in_both_forms() {
    let vectors = local("canonical-vectors.json");
    let trees = vectors["trees"].as_array().unwrap();
    assert!(trees.len() >= 400);
    let mut forms_differ = 0;
    for case in trees {
        let input: Value = serde_json::from_str(case["input"].as_str().unwrap()).unwrap();
        let jcs = case["jcs"].as_str().unwrap();
        let ts = case["tracehound_js"].as_str().unwrap();
        assert_eq!(
            text(&input, CanonicalForm::Jcs),
            jcs,
            "input {}",
            case["input"]
        );
        assert_eq!(
            text(&input, CanonicalForm::TracehoundJs),
            ts,
            "input {}",
            case["input"]
        );
        forms_differ += usize::from(jcs != ts);
    }
    // The generator must exercise the one place the forms disagree.
    assert!(
        forms_differ > 20,
        "only {forms_differ} trees order keys differently"
    );
}
