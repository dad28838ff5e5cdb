//! The environments against Gymnasium's own: states recorded by
//! tests/fixtures/make_gymnasium_rl.py (Gymnasium 1.4, NumPy 2.4) after
//! `reset(seed)` and a fixed rule for the actions, matched to 1e-6.

use backprop::rl::{EnvName, VecEnv};
use serde_json::Value;
use std::path::Path;

const TOLERANCE: f64 = 1e-6;

fn fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gymnasium_rl.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

/// Compares `ours` to `theirs` to 1e-6, relative to the size of the value
/// above 1 (angular velocities reach 28 rad/s, where a float32 ulp is 2e-6).
fn assert_close(ours: &[f64], theirs: &[f64], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: lengths");
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert!((a - b).abs() <= TOLERANCE * b.abs().max(1.0), "{what}[{i}]: ours {a}, Gymnasium {b}");
    }
}

#[test]
fn environments_match_gymnasium_step_by_step() {
    let data = fixture();
    let episodes = data["episodes"].as_array().unwrap();
    assert_eq!(episodes.len(), 5);
    let (mut truncations, mut terminations) = (0, 0);
    for e in episodes {
        let name: EnvName = e["env"].as_str().unwrap().parse().unwrap();
        let seed = e["seed"].as_u64().unwrap();
        let steps = e["steps"].as_array().unwrap();
        let mut env = name.make();
        let first = env.reset(Some(seed));
        let label = format!("{name} seed {seed}");
        let as_f64 = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
        assert_close(&as_f64(&first), &numbers(&steps[0]["obs"]), &format!("{label} reset observation"));
        assert_close(&env.state(), &numbers(&steps[0]["state"]), &format!("{label} reset state"));
        for (t, (action, want)) in e["actions"].as_array().unwrap().iter().zip(&steps[1..]).enumerate() {
            let step = env.step(action.as_u64().unwrap() as usize).unwrap();
            let at = format!("{label} step {}", t + 1);
            assert_close(&env.state(), &numbers(&want["state"]), &format!("{at} state"));
            assert_close(&as_f64(&step.observation), &numbers(&want["obs"]), &format!("{at} observation"));
            assert_eq!(f64::from(step.reward), want["reward"].as_f64().unwrap(), "{at} reward");
            assert_eq!(step.terminated, want["terminated"].as_bool().unwrap(), "{at} terminated");
            assert_eq!(step.truncated, want["truncated"].as_bool().unwrap(), "{at} truncated");
            truncations += usize::from(step.truncated);
            terminations += usize::from(step.terminated);
        }
    }
    // The recording covers both ways an episode ends, in both environments.
    assert_eq!((truncations, terminations), (1, 3));
}

#[test]
fn vector_copies_are_seeded_like_gymnasium_and_reset_themselves() {
    let data = fixture();
    // Copy i of VecEnv::new(_, n, seed) starts as reset(seed + i): CartPole seeds 0 and 1.
    let envs = VecEnv::new(EnvName::CartPole, 2, 0).unwrap();
    let obs = envs.observations();
    for (i, e) in data["episodes"].as_array().unwrap()[..2].iter().enumerate() {
        let want = numbers(&e["steps"][0]["obs"]);
        let ours: Vec<f64> = obs.data()[4 * i..4 * i + 4].iter().map(|&v| f64::from(v)).collect();
        assert_close(&ours, &want, "vector reset");
    }
    // Always pushing left ends every episode; the copy resets on the same step
    // and reports the last observation of the episode that ended.
    let mut envs = VecEnv::new(EnvName::CartPole, 3, 5).unwrap();
    let mut ended = 0;
    for _ in 0..200 {
        let step = envs.step(&[0, 0, 0]).unwrap();
        for i in 0..3 {
            if step.done(i) {
                ended += 1;
                let last = step.final_observations[i].as_ref().unwrap();
                assert!(last[0].abs() > 2.4 || last[2].abs() > 0.2094, "{last:?} is not a terminal state");
                let now = envs.observations().data()[4 * i..4 * i + 4].to_vec();
                assert!(now.iter().all(|v| v.abs() <= 0.05), "copy {i} was not reset: {now:?}");
            }
        }
        assert_eq!(step.finished.len(), (0..3).filter(|&i| step.done(i)).count());
    }
    assert!(ended >= 3 * 10, "only {ended} episodes ended in 200 steps of pushing left");
}

#[test]
fn bad_actions_and_unknown_environments_are_errors() {
    let mut env = EnvName::Acrobot.make();
    let e = env.step(0).unwrap_err().to_string();
    assert!(e.contains("stepped before reset"), "{e}");
    env.reset(Some(0));
    let e = env.step(3).unwrap_err().to_string();
    assert!(e.contains("Acrobot-v1 takes actions 0..3, got 3"), "{e}");
    let e = "lunarlander".parse::<EnvName>().unwrap_err().to_string();
    assert!(e.contains("unknown environment 'lunarlander'") && e.contains("cartpole, acrobot"), "{e}");
    let mut envs = VecEnv::new(EnvName::CartPole, 2, 0).unwrap();
    assert!(envs.step(&[0]).unwrap_err().to_string().contains("1 actions for 2 environments"));
    assert!(VecEnv::new(EnvName::CartPole, 0, 0).is_err());
}
