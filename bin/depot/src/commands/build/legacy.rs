//! `docker build` flags that BuildKit builds do not use. They are accepted, like the official
//! CLI does, so scripts written for `docker build` keep working; a note names the ones given.

use clap::Args;

/// Accepted and ignored (hidden from `--help`).
#[derive(Args, Debug, Default)]
pub struct LegacyArgs {
    #[arg(long, hide = true)]
    pull: bool,
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    rm: Option<String>,
    #[arg(long = "force-rm", hide = true)]
    force_rm: bool,
    #[arg(long, hide = true)]
    compress: bool,
    #[arg(long, hide = true)]
    squash: bool,
    #[arg(long = "disable-content-trust", hide = true, num_args = 0..=1, default_missing_value = "true")]
    disable_content_trust: Option<String>,
    #[arg(long, hide = true)]
    isolation: Option<String>,
    #[arg(long = "shm-size", hide = true)]
    shm_size: Option<String>,
    #[arg(long, hide = true)]
    ulimit: Vec<String>,
    #[arg(short = 'm', long, hide = true)]
    memory: Option<String>,
    #[arg(long = "memory-swap", hide = true)]
    memory_swap: Option<String>,
    #[arg(short = 'c', long = "cpu-shares", hide = true)]
    cpu_shares: Option<String>,
    #[arg(long = "cpu-period", hide = true)]
    cpu_period: Option<String>,
    #[arg(long = "cpu-quota", hide = true)]
    cpu_quota: Option<String>,
    #[arg(long = "cpuset-cpus", hide = true)]
    cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems", hide = true)]
    cpuset_mems: Option<String>,
    #[arg(long = "cgroup-parent", hide = true)]
    cgroup_parent: Option<String>,
    #[arg(long = "security-opt", hide = true)]
    security_opt: Vec<String>,
}

impl LegacyArgs {
    /// The flags given, which have no effect here.
    pub fn ignored(&self) -> Vec<&'static str> {
        [
            ("--pull", self.pull),
            ("--rm", self.rm.is_some()),
            ("--force-rm", self.force_rm),
            (
                "--disable-content-trust",
                self.disable_content_trust.is_some(),
            ),
            ("--compress", self.compress),
            ("--squash", self.squash),
            ("--isolation", self.isolation.is_some()),
            ("--shm-size", self.shm_size.is_some()),
            ("--ulimit", !self.ulimit.is_empty()),
            ("--memory", self.memory.is_some()),
            ("--memory-swap", self.memory_swap.is_some()),
            ("--cpu-shares", self.cpu_shares.is_some()),
            ("--cpu-period", self.cpu_period.is_some()),
            ("--cpu-quota", self.cpu_quota.is_some()),
            ("--cpuset-cpus", self.cpuset_cpus.is_some()),
            ("--cpuset-mems", self.cpuset_mems.is_some()),
            ("--cgroup-parent", self.cgroup_parent.is_some()),
            ("--security-opt", !self.security_opt.is_empty()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }
}
