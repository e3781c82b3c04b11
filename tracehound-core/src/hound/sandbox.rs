//! The lock-down a hound worker enters before it reads its first job.
//!
//! Layers, in the order they must be applied (each later one forbids the calls that set up
//! the earlier ones):
//!
//! 1. **`no_new_privs`**, so nothing the worker could still execute gains privileges;
//! 2. **landlock**, handling every filesystem, network and scope right the kernel knows with
//!    no rule granting any: no file can be opened, no TCP port bound or connected, no signal
//!    sent outside the sandbox;
//! 3. **rlimits**: address space and CPU seconds from the host's [`WorkerLimits`]; no new
//!    file descriptors (`RLIMIT_NOFILE` = 3, stdio only), no new processes
//!    (`RLIMIT_NPROC` = 0), no file growth (`RLIMIT_FSIZE` = 0), no core dumps;
//! 4. **seccomp**: an allow-list of the calls a worker needs to read jobs on fd 0, write
//!    answers on fds 1 and 2, manage its memory (never executable) and exit. Any other system
//!    call kills the process with `SIGSYS`, which the host reports as a sandbox violation.
//!
//! Each layer reports whether it took hold in [`SandboxStatus`]; the host decides whether a
//! partial sandbox is acceptable (by default it is not).

use tracehound_codec::ipc::{SandboxStatus, WorkerLimits};

/// Applies every layer it can and reports which took hold.
#[cfg(target_os = "linux")]
pub(crate) fn enter(limits: &WorkerLimits) -> SandboxStatus {
    let no_new_privs = nix::sys::prctl::set_no_new_privs().is_ok();
    // Creating a landlock rule set takes a file descriptor, which the rlimits then forbid.
    let landlock = linux::landlock().unwrap_or(false);
    let rlimits = linux::rlimits(limits).is_ok();
    let seccomp = no_new_privs && linux::seccomp().is_ok();
    SandboxStatus {
        no_new_privs,
        rlimits,
        seccomp,
        landlock,
    }
}

/// No sandbox exists for this platform: every layer reports absent, and a host that requires
/// one (the default) refuses the worker.
#[cfg(not(target_os = "linux"))]
pub(crate) fn enter(_limits: &WorkerLimits) -> SandboxStatus {
    SandboxStatus::default()
}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::BTreeMap;

    use landlock::{ABI, Access, AccessFs, AccessNet, Ruleset, RulesetAttr, RulesetStatus, Scope};
    use nix::libc;
    use rlimit::Resource;
    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule,
    };
    use tracehound_codec::ipc::WorkerLimits;

    pub(super) fn rlimits(limits: &WorkerLimits) -> std::io::Result<()> {
        rlimit::setrlimit(Resource::AS, limits.address_space, limits.address_space)?;
        // The soft limit sends SIGXCPU; the hard one, a second later, SIGKILL.
        rlimit::setrlimit(
            Resource::CPU,
            limits.cpu_seconds,
            limits.cpu_seconds.saturating_add(1),
        )?;
        rlimit::setrlimit(Resource::NOFILE, 3, 3)?;
        rlimit::setrlimit(Resource::NPROC, 0, 0)?;
        rlimit::setrlimit(Resource::FSIZE, 0, 0)?;
        rlimit::setrlimit(Resource::CORE, 0, 0)?;
        Ok(())
    }

    /// `Ok(true)` when the kernel enforces at least part of the rule set.
    pub(super) fn landlock() -> Result<bool, landlock::RulesetError> {
        let abi = ABI::V6;
        let status = Ruleset::default()
            .handle_access(AccessFs::from_all(abi))?
            .handle_access(AccessNet::from_all(abi))?
            .scope(Scope::from_all(abi))?
            .create()?
            .restrict_self()?;
        Ok(status.ruleset != RulesetStatus::NotEnforced)
    }

    pub(super) fn seccomp() -> Result<(), seccompiler::Error> {
        let arch = std::env::consts::ARCH
            .try_into()
            .map_err(seccompiler::Error::Backend)?;
        let filter = SeccompFilter::new(
            allow_list()?,
            SeccompAction::KillProcess,
            SeccompAction::Allow,
            arch,
        )
        .map_err(seccompiler::Error::Backend)?;
        let program: BpfProgram = filter.try_into().map_err(seccompiler::Error::Backend)?;
        seccompiler::apply_filter(&program)
    }

    type Rules = BTreeMap<i64, Vec<SeccompRule>>;

    fn allow_list() -> Result<Rules, seccompiler::Error> {
        let backend = seccompiler::Error::Backend;
        let arg_is = |index: u8, value: u64| {
            SeccompCondition::new(index, SeccompCmpArgLen::Qword, SeccompCmpOp::Eq, value)
                .map_err(backend)
        };
        let rule =
            |conditions: Vec<SeccompCondition>| SeccompRule::new(conditions).map_err(backend);
        let not_executable = || {
            SeccompCondition::new(
                2,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::MaskedEq(libc::PROT_EXEC as u64),
                0,
            )
            .map_err(backend)
        };
        let pid = u64::from(std::process::id());

        let mut rules = Rules::new();
        // Jobs come in on stdin; answers go out on stdout; panic messages on stderr.
        rules.insert(libc::SYS_read, vec![rule(vec![arg_is(0, 0)?])?]);
        rules.insert(
            libc::SYS_write,
            vec![rule(vec![arg_is(0, 1)?])?, rule(vec![arg_is(0, 2)?])?],
        );
        // Memory, never executable.
        rules.insert(libc::SYS_mmap, vec![rule(vec![not_executable()?])?]);
        rules.insert(libc::SYS_mprotect, vec![rule(vec![not_executable()?])?]);
        for call in [
            libc::SYS_munmap,
            libc::SYS_mremap,
            libc::SYS_brk,
            libc::SYS_madvise,
            // Locks, clocks, randomness, signal return and exit.
            libc::SYS_futex,
            libc::SYS_sched_yield,
            libc::SYS_clock_gettime,
            libc::SYS_clock_nanosleep,
            libc::SYS_nanosleep,
            libc::SYS_getrandom,
            libc::SYS_rt_sigreturn,
            libc::SYS_rt_sigprocmask,
            libc::SYS_sigaltstack,
            libc::SYS_getpid,
            libc::SYS_gettid,
            libc::SYS_exit,
            libc::SYS_exit_group,
        ] {
            rules.insert(call, vec![]);
        }
        // `abort` (a failed allocation past the address-space limit) raises SIGABRT at itself;
        // no other process can be signalled.
        rules.insert(libc::SYS_tgkill, vec![rule(vec![arg_is(0, pid)?])?]);
        Ok(rules)
    }
}
