// Command runc-nocap runs runc after removing, from the OCI spec runc is about to apply, every
// capability that is missing from this process's capability bounding set.
//
// Why: in some sandboxes (e.g. a VM whose init dropped CAP_SYS_RESOURCE) the bounding set
// lacks capabilities that a privileged container asks for, and runc then fails with "unable to
// apply caps: operation not permitted". kind nodes are privileged containers and run
// privileged pods (kube-proxy), so on such a machine dockerd (and the node's containerd) use
// this wrapper as their runtime. A capability outside the bounding set can never be held by
// any process on the machine, so removing it from the request changes nothing else.
//
// It edits the bundle's config.json for `create` and `run`, and the --process file for `exec`,
// then execs the real runc with the same arguments. With a complete bounding set it edits
// nothing. The workaround is only switched on where it is needed (docs/kind.md).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// capNames maps capability names to their numbers (linux/capability.h).
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// missingCaps returns the names of the known capabilities absent from the bounding set.
func missingCaps() (map[string]bool, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if !strings.HasPrefix(line, "CapBnd:") {
			continue
		}
		bnd, err := strconv.ParseUint(strings.TrimSpace(line[len("CapBnd:"):]), 16, 64)
		if err != nil {
			return nil, err
		}
		missing := map[string]bool{}
		for bit, name := range capNames {
			if bnd&(1<<uint(bit)) == 0 {
				missing[name] = true
			}
		}
		return missing, nil
	}
	return nil, fmt.Errorf("no CapBnd line in /proc/self/status")
}

// stripCaps removes the missing capabilities from every set of a process object.
func stripCaps(process map[string]any, missing map[string]bool) bool {
	caps, ok := process["capabilities"].(map[string]any)
	if !ok {
		return false
	}
	changed := false
	for set, value := range caps {
		list, ok := value.([]any)
		if !ok {
			continue
		}
		kept := make([]any, 0, len(list))
		for _, c := range list {
			if name, ok := c.(string); ok && missing[name] {
				changed = true
				continue
			}
			kept = append(kept, c)
		}
		caps[set] = kept
	}
	return changed
}

// patchFile rewrites a JSON file (a whole spec when isSpec, else a process) in place.
func patchFile(path string, isSpec bool, missing map[string]bool) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	process := doc
	if isSpec {
		p, ok := doc["process"].(map[string]any)
		if !ok {
			return nil
		}
		process = p
	}
	if !stripCaps(process, missing) {
		return nil
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, info.Mode().Perm())
}

// globalWithValue are runc's global flags that take a value as the next argument.
var globalWithValue = map[string]bool{
	"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true,
}

// flagValue finds `--name value`, `--name=value`, `-s value` among args; "" if absent.
func flagValue(args []string, long, short string) string {
	for i, a := range args {
		if (a == long || (short != "" && a == short)) && i+1 < len(args) {
			return args[i+1]
		}
		if strings.HasPrefix(a, long+"=") {
			return a[len(long)+1:]
		}
	}
	return ""
}

func realRunc() (string, error) {
	if p := os.Getenv("RUNC_NOCAP_REAL"); p != "" {
		return p, nil
	}
	self, _ := os.Executable()
	for _, p := range []string{"/usr/local/sbin/runc", "/usr/sbin/runc", "/usr/bin/runc", "/usr/local/bin/runc"} {
		if p != self {
			if info, err := os.Stat(p); err == nil && !info.IsDir() {
				return p, nil
			}
		}
	}
	return exec.LookPath("runc")
}

func main() {
	args := os.Args[1:]
	sub, rest := "", []string(nil)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			sub, rest = a, args[i+1:]
			break
		}
		if globalWithValue[a] {
			i++
		}
	}
	if sub == "create" || sub == "run" || sub == "exec" {
		missing, err := missingCaps()
		if err != nil {
			fmt.Fprintf(os.Stderr, "runc-nocap: %v\n", err)
			os.Exit(1)
		}
		if len(missing) > 0 {
			var path string
			isSpec := sub != "exec"
			if isSpec {
				bundle := flagValue(rest, "--bundle", "-b")
				if bundle == "" {
					bundle = "."
				}
				path = filepath.Join(bundle, "config.json")
			} else {
				path = flagValue(rest, "--process", "-p")
			}
			if path != "" {
				if err := patchFile(path, isSpec, missing); err != nil {
					fmt.Fprintf(os.Stderr, "runc-nocap: %v\n", err)
					os.Exit(1)
				}
			}
		}
	}
	runc, err := realRunc()
	if err != nil {
		fmt.Fprintf(os.Stderr, "runc-nocap: no runc found: %v\n", err)
		os.Exit(1)
	}
	if err := syscall.Exec(runc, append([]string{runc}, args...), os.Environ()); err != nil {
		fmt.Fprintf(os.Stderr, "runc-nocap: exec %s: %v\n", runc, err)
		os.Exit(1)
	}
}
