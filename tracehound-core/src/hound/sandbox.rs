//! The lock-down a hound worker enters before it reads its first job.
//!
//! Layers, in the order they must be applied (each later one forbids the calls that set up
//! the earlier ones):
//!
//! 1. **no privileges**: a worker started as root gives up its supplementary groups and
//!    switches to `nobody` (uid and gid 65534), which clears every capability; then it asks
//!    for `SIGKILL` when the host dies (`PR_SET_PDEATHSIG`, reset by the switch, so after it);
//! 2. **`no_new_privs`**, so nothing the worker could still execute gains privileges;
//! 3. **landlock**, handling every filesystem, network and scope right the kernel knows with
//!    no rule granting any: no file can be opened, no TCP port bound or connected, no signal
//!    sent outside the sandbox;
//! 4. **rlimits**: address space and CPU seconds from the host's [`WorkerLimits`]; no new
//!    file descriptors (`RLIMIT_NOFILE` = 3, stdio only), no new processes
//!    (`RLIMIT_NPROC` = 0), no file growth (`RLIMIT_FSIZE` = 0), no core dumps;
//! 5. **seccomp**, on every thread: an allow-list of the calls a worker needs to read jobs on
//!    fd 0, write answers on fds 1 and 2, manage anonymous, never executable memory, wait on
//!    private futexes, handle its own signals and exit. Any other system call, or an allowed
//!    one with other arguments (a file mapping, `madvise` beyond freeing, a shared futex),
//!    kills the process with `SIGSYS`, which the host reports as a sandbox violation.
//!
//! Landlock applies to the calling thread only, so the worker must enter the sandbox while it
//! has one thread: [`serve`](crate::hound::serve) must run before anything spawns a thread.
//! A worker with more reports landlock and seccomp as absent.
//!
//! Each layer reports whether it took hold in [`SandboxStatus`]; the host decides whether a
//! partial sandbox is acceptable (by default it is not).

use tracehound_codec::ipc::{SandboxStatus, WorkerLimits};

/// Applies every layer it can and reports which took hold.
#[cfg(all(target_os = "linux", feature = "sandbox"))]
pub(crate) fn enter(limits: &WorkerLimits) -> SandboxStatus {
    let single_threaded = linux::thread_count() == Some(1);
    let unprivileged = linux::drop_privileges().is_ok();
    linux::die_with_host();
    let no_new_privs = nix::sys::prctl::set_no_new_privs().is_ok();
    // Creating a landlock rule set takes a file descriptor, which the rlimits then forbid.
    let landlock = linux::landlock().unwrap_or(false) && single_threaded;
    let rlimits = linux::rlimits(limits).is_ok();
    let seccomp = no_new_privs && linux::seccomp().is_ok() && single_threaded;
    SandboxStatus {
        no_new_privs,
        rlimits,
        seccomp,
        landlock,
        unprivileged,
    }
}

/// No sandbox exists for this platform, or the crate was built without its `sandbox`
/// feature: every layer reports absent, and a host that requires one (the default) refuses
/// the worker.
#[cfg(not(all(target_os = "linux", feature = "sandbox")))]
pub(crate) fn enter(_limits: &WorkerLimits) -> SandboxStatus {
    SandboxStatus::default()
}

#[cfg(all(target_os = "linux", feature = "sandbox"))]
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

    /// Threads in this process, from `/proc/self/status`.
    pub(super) fn thread_count() -> Option<usize> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("Threads:"))?;
        line["Threads:".len()..].trim().parse().ok()
    }

    /// As root, becomes `nobody` with no supplementary groups (which clears every
    /// capability); as anyone else, keeps its identity. Ok if the process ends up unprivileged.
    pub(super) fn drop_privileges() -> nix::Result<()> {
        use nix::unistd::{Gid, Uid, geteuid, setgroups, setresgid, setresuid};
        if geteuid().is_root() {
            let nobody = 65_534;
            setgroups(&[])?;
            setresgid(
                Gid::from_raw(nobody),
                Gid::from_raw(nobody),
                Gid::from_raw(nobody),
            )?;
            setresuid(
                Uid::from_raw(nobody),
                Uid::from_raw(nobody),
                Uid::from_raw(nobody),
            )?;
        }
        if geteuid().is_root() || Uid::current().is_root() {
            return Err(nix::errno::Errno::EPERM);
        }
        Ok(())
    }

    /// Asks the kernel to kill this worker if the host dies, and exits if it already has.
    pub(super) fn die_with_host() {
        let host = nix::unistd::getppid();
        let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
        if nix::unistd::getppid() != host {
            std::process::exit(1);
        }
    }

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
        seccompiler::apply_filter_all_threads(&program)
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
        let masked = |index: u8, mask: u64, value: u64| {
            SeccompCondition::new(
                index,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::MaskedEq(mask),
                value,
            )
            .map_err(backend)
        };
        let not_executable = || masked(2, libc::PROT_EXEC as u64, 0);
        let anonymous = || {
            let flag = libc::MAP_ANONYMOUS as u64;
            masked(3, flag, flag)
        };
        let pid = u64::from(std::process::id());

        let mut rules = Rules::new();
        // Jobs come in on stdin; answers go out on stdout; panic messages on stderr.
        rules.insert(libc::SYS_read, vec![rule(vec![arg_is(0, 0)?])?]);
        rules.insert(
            libc::SYS_write,
            vec![rule(vec![arg_is(0, 1)?])?, rule(vec![arg_is(0, 2)?])?],
        );
        // Memory: anonymous (no file can be mapped, inherited or not), never executable.
        rules.insert(
            libc::SYS_mmap,
            vec![rule(vec![not_executable()?, anonymous()?])?],
        );
        rules.insert(libc::SYS_mprotect, vec![rule(vec![not_executable()?])?]);
        // Giving memory back, nothing else (no MADV_HWPOISON and friends).
        rules.insert(
            libc::SYS_madvise,
            vec![
                rule(vec![arg_is(2, libc::MADV_DONTNEED as u64)?])?,
                rule(vec![arg_is(2, libc::MADV_FREE as u64)?])?,
            ],
        );
        // Process-private futexes only: no shared or priority-inheritance operations.
        let private = libc::FUTEX_PRIVATE_FLAG as u64;
        rules.insert(
            libc::SYS_futex,
            [
                libc::FUTEX_WAIT,
                libc::FUTEX_WAKE,
                libc::FUTEX_WAIT_BITSET,
                libc::FUTEX_WAKE_BITSET,
            ]
            .into_iter()
            .map(|op| rule(vec![arg_is(1, op as u64 | private)?]))
            .collect::<Result<_, _>>()?,
        );
        for call in [
            libc::SYS_munmap,
            libc::SYS_mremap,
            libc::SYS_brk,
            // Clocks, randomness, signals of its own, and exit.
            libc::SYS_sched_yield,
            libc::SYS_clock_gettime,
            libc::SYS_clock_nanosleep,
            libc::SYS_nanosleep,
            libc::SYS_getrandom,
            libc::SYS_rt_sigreturn,
            libc::SYS_rt_sigprocmask,
            // A crash resets its handler before re-raising; allowed, so the host sees the
            // real signal (SIGSEGV) rather than a seccomp kill.
            libc::SYS_rt_sigaction,
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
