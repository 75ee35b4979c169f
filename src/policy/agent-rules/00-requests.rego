# cocokit's Kata agent rules: which agent requests a generated policy allows (specs/rego.md §3.4–3.6).
#
# The rules read `policy_data` (the pod's expected OCI specs, storages and request defaults, appended by the
# generator) and `data.pstate` (state kept between requests through JSON-Patch `ops`, §3.4). A denial prints
# what differed, so the agent's "<Request> is blocked by policy: ..." message names the field.
package agent_policy

# Requests whose outcome does not depend on the pod (§3.5): lifecycle and read-only queries the runtime always
# sends are allowed; anything that could change the guest beyond the pod's spec is denied unless a rule below
# allows it.
default AddARPNeighborsRequest := false
default AddSwapPathRequest := false
default AddSwapRequest := false
default AllowRequestsFailingPolicy := false
default CloseStdinRequest := false
default CopyFileRequest := false
default CreateContainerRequest := false
default CreateSandboxRequest := false
default DestroySandboxRequest := true
default ExecProcessRequest := false
default GetDiagnosticDataRequest := false
default GetIPTablesRequest := false
default GetMetricsRequest := false
default GetOOMEventRequest := true
default GuestDetailsRequest := true
default ListInterfacesRequest := false
default ListRoutesRequest := false
default MemAgentCompactConfig := false
default MemAgentMemcgConfig := false
default MemHotplugByProbeRequest := false
default OnlineCPUMemRequest := true
default PauseContainerRequest := false
default ReadStreamRequest := false
default RemoveContainerRequest := true
default RemoveStaleVirtiofsShareMountsRequest := true
default ReseedRandomDevRequest := false
default ResizeVolumeRequest := false
default ResumeContainerRequest := false
default SetGuestDateTimeRequest := false
default SetIPTablesRequest := false
default SetPolicyRequest := false
default SignalProcessRequest := true
default StartContainerRequest := true
default StartTracingRequest := false
default StatsContainerRequest := true
default StopTracingRequest := false
default TtyWinResizeRequest := true
default UpdateContainerRequest := false
default UpdateEphemeralMountsRequest := false
default UpdateInterfaceRequest := false
default UpdateRoutesRequest := false
default VolumeStatsRequest := false
default WaitProcessRequest := true
default WriteStreamRequest := false

# Stream and diagnostic requests are a per-pod choice made in the settings (request_defaults).
CloseStdinRequest if policy_data.request_defaults.CloseStdinRequest == true

ReadStreamRequest if policy_data.request_defaults.ReadStreamRequest == true

WriteStreamRequest if policy_data.request_defaults.WriteStreamRequest == true

GetDiagnosticDataRequest if policy_data.request_defaults.GetDiagnosticDataRequest == true

UpdateEphemeralMountsRequest if policy_data.request_defaults.UpdateEphemeralMountsRequest == true

# The sandbox: no guest hooks, no kernel modules, no shared PID namespace, and only the storages the
# settings list for every sandbox (the shared-memory tmpfs).
CreateSandboxRequest if {
	count(input.guest_hook_path) == 0
	count(input.kernel_modules) == 0
	input.sandbox_pidns == false
	unlisted := [s | some s in input.storages; not sandbox_storage_listed(s)]
	print_if_any("CreateSandboxRequest: storages not in policy_data.sandbox.storages:", unlisted)
	count(unlisted) == 0
}

sandbox_storage_listed(s) if {
	some p in object.get(policy_data, ["sandbox", "storages"], [])
	p == s
}

# Prints the message with the list when the list is not empty (an explanation for a denial that follows).
print_if_any(msg, list) if count(list) == 0

print_if_any(msg, list) if {
	count(list) > 0
	print(msg, list)
}

# Network: the runtime configures the pod's interface and routes; the loopback device, all-zero hardware
# addresses and loopback sources stay out of its reach, and only the listed interface flags may be set.
UpdateInterfaceRequest if {
	d := policy_data.request_defaults.UpdateInterfaceRequest
	i := input.interface
	bits.and(i.raw_flags, bits.negate(d.allow_raw_flags)) == 0
	not i.name in d.forbidden_names
	not i.hwAddr in d.forbidden_hw_addrs
}

UpdateRoutesRequest if {
	d := policy_data.request_defaults.UpdateRoutesRequest
	every r in input.routes.Routes {
		not r.device in d.forbidden_device_names
		not matches_any(d.forbidden_source_regex, r.source)
	}
}

AddARPNeighborsRequest if {
	d := policy_data.request_defaults.AddARPNeighborsRequest
	every n in input.neighbors.ARPNeighbors {
		not n.device in d.forbidden_device_names
		n.toIPAddress.mask == ""
		not matches_any(d.forbidden_cidrs_regex, n.toIPAddress.address)
		n.state in d.allowed_states
		# only NTF_PROXY (8) and NTF_ROUTER (128) may be set
		bits.or(n.flags, 136) == 136
	}
}

matches_any(patterns, s) if {
	some p in patterns
	regex.match(p, s)
}

# Files copied into the shared directory (config maps, secrets, service-account tokens, /etc/hosts …) must
# land under a path the settings allow, without ".." components; a symlink's target stays relative and
# inside the directory, and symlinks are never made at its top level.
CopyFileRequest if {
	no_traversal(input.path)
	symlink_target_ok
	copy_type_ok
	some pattern in policy_data.request_defaults.CopyFileRequest
	regex.match(expand_copy_pattern(pattern), input.path)
}

copy_type_ok if not input.file_type

copy_type_ok if input.file_type in {"Regular", "Directory"}

copy_type_ok if {
	input.file_type == "Symlink"
	some pattern in policy_data.request_defaults.CopyFileRequest
	regex.match(concat("", [expand_copy_pattern(pattern), ".*/.+"]), input.path)
}

expand_copy_pattern(p) := r if {
	r1 := replace(p, "$(sfprefix)", policy_data.common.sfprefix)
	r2 := replace(r1, "$(cpath)", policy_data.common.cpath)
	r := replace(r2, "$(bundle-id)", "[a-z0-9]{64}")
}

# The link's target: `symlink_target` in current agents' requests, `symlink_src` in older ones; both are
# checked when both are present.
symlink_targets := [t | some k in ["symlink_target", "symlink_src"]; t := object.get(input, k, ""); count(t) > 0]

symlink_target_ok if {
	not symlink_without_target
	every t in symlink_targets {
		not startswith(t, "/")
		no_traversal(t)
	}
}

# A symlink always names its target.
symlink_without_target if {
	input.file_type == "Symlink"
	count(symlink_targets) == 0
}

no_traversal(p) if {
	not contains(p, "../")
	not endswith(p, "/..")
	p != ".."
}
