//! The trained agent as a checkpoint: a plain MLP from observation to action
//! logits (policy-gradient methods) or Q-values (DQN), plus the value network
//! of an actor-critic under its own prefix.

use super::{Algo, EnvName};
use crate::autograd::{Graph, Param, Var};
use crate::checkpoint::{Checkpoint, CONFIG_KEY, KIND_KEY};
use crate::nn::{Activation, Mlp, MlpConfig, Module};
use crate::tensor::Rng;
use crate::{Error, Result, Tensor};
use std::collections::BTreeMap;
use std::path::Path;

/// Metadata key naming the environment (`CartPole-v1`).
pub const ENV_KEY: &str = "backprop.env";
/// Metadata key naming the algorithm that trained the policy (`ppo`).
pub const ALGO_KEY: &str = "backprop.algo";
/// Metadata key with the hidden activation (`tanh`), for readers other than backprop.
pub const ACTIVATION_KEY: &str = "backprop.activation";
/// Metadata key with the value network's [`MlpConfig`], when there is one.
pub const VALUE_CONFIG_KEY: &str = "backprop.value_config";
/// The kind of model under [`KIND_KEY`].
pub const POLICY_KIND: &str = "policy";
/// Prefix of the value network's parameters (`value.layers.0.weight`).
pub const VALUE_PREFIX: &str = "value";

/// A policy network (and, for actor-critic methods, a value network) for one environment.
///
/// `net` maps `[N, observation_size]` observations to `[N, actions]` action
/// logits, or Q-values when trained by DQN; its parameters are named like any
/// MLP's (`layers.0.weight` `[out, in]`, `layers.0.bias`), the value
/// network's `value.layers.0.weight`, ... (`[N, observation_size]` to `[N, 1]`).
///
/// ```
/// use backprop::nn::Activation;
/// use backprop::rl::{Algo, EnvName, Policy};
/// use backprop::{tensor::Rng, Tensor};
/// let policy = Policy::new(EnvName::CartPole, Algo::Ppo, &[64, 64], Activation::Tanh, &mut Rng::new(0));
/// let actions = policy.act(&Tensor::zeros(&[3, 4]));
/// assert_eq!(actions.len(), 3);
/// assert!(actions.iter().all(|&a| a < 2));
/// ```
pub struct Policy {
    env: EnvName,
    algo: Algo,
    net: Mlp,
    value: Option<Mlp>,
}

impl Policy {
    /// A freshly initialised policy for `env`, with a value network when `algo`
    /// needs one. Hidden layers use Xavier (tanh, sigmoid) or He (ReLU, GELU)
    /// initialisation; a policy head's weights are scaled by 0.01 so the first
    /// policy is close to uniform (as Stable-Baselines3's orthogonal
    /// initialisation with gain 0.01 does).
    pub fn new(env: EnvName, algo: Algo, hidden: &[usize], activation: Activation, rng: &mut Rng) -> Policy {
        let config = MlpConfig::classifier(env.observation_size(), hidden, env.actions(), activation);
        let net = Mlp::new(config, rng);
        let value = algo
            .has_value_network()
            .then(|| Mlp::new(MlpConfig::classifier(env.observation_size(), hidden, 1, activation), rng));
        if algo != Algo::Dqn {
            let parameters = net.parameters();
            let (_, last_weight) = &parameters[parameters.len() - 2];
            last_weight.set_value(last_weight.value().mul_scalar(0.01));
        }
        Policy { env, algo, net, value }
    }

    /// The environment it acts in.
    pub fn env(&self) -> EnvName {
        self.env
    }

    /// The algorithm that trains (or trained) it.
    pub fn algo(&self) -> Algo {
        self.algo
    }

    /// The network from observations to action logits or Q-values.
    pub fn net(&self) -> &Mlp {
        &self.net
    }

    /// The value network `[N, obs]` to `[N, 1]`, if any.
    pub fn value(&self) -> Option<&Mlp> {
        self.value.as_ref()
    }

    /// What the network outputs: `"q-values"` for DQN, else `"logits"`.
    pub fn outputs(&self) -> &'static str {
        if self.algo == Algo::Dqn {
            "q-values"
        } else {
            "logits"
        }
    }

    /// The network's outputs for `[N, observation_size]` observations, `[N, actions]`.
    pub fn forward<'g>(&self, g: &'g Graph, observations: Var<'g>) -> Var<'g> {
        self.net.forward(g, observations)
    }

    /// The greedy (deterministic) action of each observation row: the arg-max
    /// of its logits or Q-values.
    pub fn act(&self, observations: &Tensor) -> Vec<usize> {
        let g = Graph::no_grad();
        self.net.forward(&g, g.constant(observations.clone())).value().argmax_axis(1)
    }

    /// A copy of every parameter's value (to put back with [`Policy::restore`]).
    pub fn snapshot(&self) -> Vec<Tensor> {
        self.parameters().iter().map(|(_, p)| p.value().clone()).collect()
    }

    /// Puts back values taken by [`Policy::snapshot`] of this policy.
    pub fn restore(&self, values: &[Tensor]) {
        for ((_, p), v) in self.parameters().iter().zip(values) {
            p.set_value(v.clone());
        }
    }

    /// Saves the networks with the environment, algorithm, activation and
    /// configurations in the metadata; `extra` entries are stored too.
    pub fn save(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<()> {
        let mut meta = extra.clone();
        let json = |c: &MlpConfig| serde_json::to_string(c).expect("MlpConfig always serializes");
        meta.insert(KIND_KEY.into(), POLICY_KIND.into());
        meta.insert(CONFIG_KEY.into(), json(self.net.config()));
        meta.insert(ENV_KEY.into(), self.env.id().into());
        meta.insert(ALGO_KEY.into(), self.algo.name().into());
        meta.insert(ACTIVATION_KEY.into(), self.net.config().activation.to_string());
        if let Some(value) = &self.value {
            meta.insert(VALUE_CONFIG_KEY.into(), json(value.config()));
        }
        crate::checkpoint::save(path, &self.parameters(), &meta)
    }

    /// Rebuilds a policy saved by [`Policy::save`]; the error names what does
    /// not fit (an unknown environment, networks of the wrong size, ...).
    pub fn from_checkpoint(ckpt: &Checkpoint) -> Result<Policy> {
        let fail = |message: String| Error::Checkpoint { path: ckpt.path.clone(), message };
        ckpt.require_kind(POLICY_KIND, "a policy")?;
        let env: EnvName = ckpt.require(ENV_KEY)?.parse().map_err(|e: Error| fail(format!("{ENV_KEY}: {e}")))?;
        let algo: Algo = ckpt.require(ALGO_KEY)?.parse().map_err(|e: Error| fail(format!("{ALGO_KEY}: {e}")))?;
        let parse = |key: &str| -> Result<MlpConfig> {
            serde_json::from_str(ckpt.require(key)?).map_err(|e| fail(format!("bad {key}: {e}")))
        };
        let config = parse(CONFIG_KEY)?;
        check_io(&config, env.actions(), env).map_err(&fail)?;
        let value = match ckpt.metadata.get(VALUE_CONFIG_KEY) {
            Some(_) => Some(parse(VALUE_CONFIG_KEY)?),
            None => None,
        };
        if let Some(v) = &value {
            check_io(v, 1, env).map_err(|e| fail(format!("value network: {e}")))?;
        }
        let mut shapes = config.parameter_shapes();
        if let Some(v) = &value {
            shapes.extend(crate::nn::prefixed(VALUE_PREFIX, v.parameter_shapes()));
        }
        // Shapes first: a corrupt configuration must not make us allocate a huge network.
        ckpt.check_shapes(&shapes)?;
        let mut rng = Rng::new(0);
        let policy = Policy { env, algo, net: Mlp::new(config, &mut rng), value: value.map(|v| Mlp::new(v, &mut rng)) };
        ckpt.restore_into(&policy.parameters())?;
        Ok(policy)
    }
}

/// Errors unless the network reads the environment's observations and has `outputs` outputs.
fn check_io(config: &MlpConfig, outputs: usize, env: EnvName) -> std::result::Result<(), String> {
    if config.inputs != env.observation_size() || config.outputs != outputs {
        return Err(format!(
            "a network with {} inputs and {} outputs does not fit {env} ({} observations, {outputs} outputs)",
            config.inputs,
            config.outputs,
            env.observation_size()
        ));
    }
    if config.output_activation != Activation::Identity {
        return Err(format!("the output activation is {}, not identity", config.output_activation));
    }
    Ok(())
}

impl Module for Policy {
    /// The policy (or Q) network's outputs; the value network is [`Policy::value`].
    fn forward<'g>(&self, g: &'g Graph, x: Var<'g>) -> Var<'g> {
        self.net.forward(g, x)
    }

    /// The policy network's parameters, then the value network's under `value.`.
    fn parameters(&self) -> Vec<(String, Param)> {
        let mut p = self.net.parameters();
        if let Some(v) = &self.value {
            p.extend(crate::nn::prefixed(VALUE_PREFIX, v.parameters()));
        }
        p
    }
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy").field("env", &self.env).field("algo", &self.algo).finish()
    }
}
