# CreateContainerRequest (specs/rego.md §3.6): the request's OCI spec and storages must match one container of
# policy_data.containers. Every check below yields a description of what differed, so a denial lists the
# differences from the policy containers of the same name instead of a bare "false".
package agent_policy

CreateContainerRequest := {"allowed": true, "ops": ops} if {
	print_if_any("CreateContainerRequest: not allowed for any container:", request_problems)
	count(request_problems) == 0
	matching := [idx | some idx, p in policy_data.containers; count(container_problems(p)) == 0]
	explain_no_match(matching)
	count(matching) > 0

	# Remember which policy container this one is, for its later ExecProcessRequests, and the sandbox's name
	# and namespace, which every later container must share (§3.4 state).
	ops := array.concat(pin_ops, [{"op": "add", "path": concat("/", ["/pstate", pointer_token(input.container_id)]), "value": matching[0]}])
}

pin_ops := [{"op": "add", "path": concat("/", ["/pstate", k]), "value": v} |
	some [k, v] in [["sandbox_name", i_sandbox_name], ["namespace", i_sandbox_namespace]]
	not data.pstate[k]
]

request_problems contains sprintf("%s: the sandbox's is %v, request %v", [k, data.pstate[k], v]) if {
	some [k, v] in [["sandbox_name", i_sandbox_name], ["namespace", i_sandbox_namespace]]
	data.pstate[k] != v
}

# Hooks run host-chosen binaries in the guest and seccomp profiles are not part of the generated spec.
request_problems contains "OCI.Hooks must be null" if not is_null(input.OCI.Hooks)

request_problems contains "OCI.Linux.Seccomp must be null" if not is_null(input.OCI.Linux.Seccomp)

# Fields of the request the generated spec never sets: host-chosen mounts shared into the guest, a user
# name to resolve in the guest, other platforms' sections, id mappings, SELinux labels, rootfs propagation
# and resource controls the runtime has no reason to send.
request_problems contains sprintf("%s must be empty, request %v", [name, v]) if {
	some [name, v] in [
		["shared_mounts", object.get(input, "shared_mounts", [])],
		["OCI.Linux.GIDMappings", object.get(input.OCI.Linux, "GIDMappings", [])],
		["OCI.Linux.UIDMappings", object.get(input.OCI.Linux, "UIDMappings", [])],
		["OCI.Linux.MountLabel", object.get(input.OCI.Linux, "MountLabel", "")],
		["OCI.Linux.RootfsPropagation", object.get(input.OCI.Linux, "RootfsPropagation", "")],
		["OCI.Linux.Resources.Devices", object.get(input.OCI.Linux, ["Resources", "Devices"], [])],
		["OCI.Process.SelinuxLabel", object.get(input.OCI.Process, "SelinuxLabel", "")],
		["OCI.Process.User.Username", object.get(input.OCI.Process, ["User", "Username"], "")],
	]
	count(v) > 0
}

request_problems contains sprintf("%s must be null, request %v", [name, v]) if {
	some [name, v] in [
		["string_user", object.get(input, "string_user", null)],
		["OCI.Solaris", object.get(input.OCI, "Solaris", null)],
		["OCI.Windows", object.get(input.OCI, "Windows", null)],
		["OCI.Linux.IntelRdt", object.get(input.OCI.Linux, "IntelRdt", null)],
		["OCI.Linux.Resources.BlockIO", object.get(input.OCI.Linux, ["Resources", "BlockIO"], null)],
		["OCI.Linux.Resources.Network", object.get(input.OCI.Linux, ["Resources", "Network"], null)],
		["OCI.Linux.Resources.Pids", object.get(input.OCI.Linux, ["Resources", "Pids"], null)],
	]
	not is_null(v)
}

explain_no_match(matching) if count(matching) > 0

explain_no_match(matching) if {
	count(matching) == 0
	print("CreateContainerRequest: no container in policy_data matches; differences:", closest_differences)
}

# The policy containers the request was most likely meant to match: same container name (none for the
# pause container), or all of them when no name matches.
closest_differences := d if {
	named := {sprintf("containers[%d]", [idx]): sort(container_problems(p)) |
		some idx, p in policy_data.containers
		object.get(p.OCI.Annotations, k_container_name, null) == object.get(input.OCI.Annotations, k_container_name, null)
	}
	count(named) > 0
	d := named
} else := {sprintf("containers[%d]", [idx]): sort(container_problems(p)) | some idx, p in policy_data.containers}

k_container_name := "io.kubernetes.cri.container-name"

k_sandbox_name := "io.kubernetes.cri.sandbox-name"

k_sandbox_namespace := "io.kubernetes.cri.sandbox-namespace"

k_sandbox_id := "io.kubernetes.cri.sandbox-id"

k_cri_type := "io.kubernetes.cri.container-type"

k_kata_type := "io.katacontainers.pkg.oci.container_type"

k_log_dir := "io.kubernetes.cri.sandbox-log-directory"

k_netns := "nerdctl/network-namespace"

k_bundle_path := "io.katacontainers.pkg.oci.bundle_path"

k_image := "io.kubernetes.cri.image-name"

i_annotations := object.get(input, ["OCI", "Annotations"], {})

# Requests after CreateContainerRequest (exec) carry no annotations: the sandbox's pinned values stand in.
i_sandbox_name := object.get(i_annotations, k_sandbox_name, object.get(data.pstate, "sandbox_name", ""))

i_sandbox_namespace := object.get(i_annotations, k_sandbox_namespace, object.get(data.pstate, "namespace", ""))

i_sandbox_id := object.get(i_annotations, k_sandbox_id, "")

# The bundle id is the last component of the bundle path the runtime chose.
i_bundle_id := id if {
	parts := split(object.get(i_annotations, k_bundle_path, ""), "/")
	id := parts[count(parts) - 1]
}

# A JSON Pointer token (RFC 6901 §3) for a map key.
pointer_token(key) := replace(replace(key, "~", "~0"), "/", "~1")

container_problems(p) := ((((((((differs("sandbox_pidns", p.sandbox_pidns, input.sandbox_pidns) |
	differs("OCI.Version", p.OCI.Version, input.OCI.Version)) |
	differs("OCI.Root.Readonly", p.OCI.Root.Readonly, input.OCI.Root.Readonly)) |
	differs("OCI.Root.Path", expand_path(p.OCI.Root.Path), input.OCI.Root.Path)) |
	annotation_problems(p.OCI.Annotations)) |
	linux_problems(p.OCI.Linux, input.OCI.Linux)) |
	process_problems(p.OCI.Process, input.OCI.Process)) |
	mount_problems(p.OCI.Mounts)) |
	device_problems(object.get(p, "devices", []))) |
	storage_problems(p.storages, input.storages)

# {"<field>: policy <v>, request <v>"} when the values differ, {} when they are equal.
differs(field, p, i) := {sprintf("%s: policy %v, request %v", [field, p, i])} if p != i

else := set()

expand_path(p) := r if {
	r1 := replace(p, "$(root_path)", object.get(policy_data.common, "root_path", "$(root_path)"))
	r2 := replace(r1, "$(cpath)", policy_data.common.cpath)
	r := replace(r2, "$(bundle-id)", i_bundle_id)
}

# Block devices of the pod's volumeDevices: only at the container paths the policy lists.
device_problems(p_devices) := {sprintf("devices: %v is not a device path of the policy", [d.container_path]) |
	some d in object.get(input, "devices", [])
	not d.container_path in {pd.container_path | some pd in p_devices}
}

######################################################################
# Annotations (§3.6): the runtime's own io.kubernetes.cri.* keys plus the keys the policy lists; each of the
# identity annotations must agree with the policy and with the container's type.

annotation_problems(pa) := (((((unexpected | typed) | sandbox_name) | namespace) | sandbox_id) | image) if {
	unexpected := {sprintf("OCI.Annotations: unexpected key %v", [k]) |
		some k, _ in i_annotations
		not startswith(k, "io.kubernetes.cri.")
		not pa[k]
	}
	typed := type_problems(pa)
	sandbox_name := {sprintf("OCI.Annotations[%v]: policy %v, request %v", [k_sandbox_name, pa[k_sandbox_name], i_sandbox_name]) |
		not sandbox_name_ok(pa)
	}
	namespace := {sprintf("OCI.Annotations[%v]: policy %v, request %v", [k_sandbox_namespace, object.get(pa, k_sandbox_namespace, null), i_sandbox_namespace]) |
		not namespace_ok(object.get(pa, k_sandbox_namespace, null))
	}
	sandbox_id := {sprintf("OCI.Annotations[%v]: %v does not match %v", [k_sandbox_id, i_sandbox_id, object.get(pa, k_sandbox_id, null)]) |
		not regex.match(pa[k_sandbox_id], i_sandbox_id)
	}
	image := {sprintf("OCI.Annotations[%v]: policy %v, request %v", [k_image, pa[k_image], object.get(i_annotations, k_image, null)]) |
		pa[k_image] != object.get(i_annotations, k_image, null)
	}
}

# Older policies leave the sandbox name out (any name); a policy for a workload whose pods get generated
# names holds "$(generated-name)"; otherwise the name is a literal or an anchored regex.
sandbox_name_ok(pa) if not pa[k_sandbox_name]

sandbox_name_ok(pa) if contains(pa[k_sandbox_name], "$(generated-name)")

sandbox_name_ok(pa) if value_or_regex_ok(pa[k_sandbox_name], i_sandbox_name)

# A pod spec without a namespace leaves it to the cluster: any namespace, the same for the whole sandbox.
namespace_ok(p) if p == ""

namespace_ok(p) if value_or_regex_ok(p, i_sandbox_namespace)

value_or_regex_ok(p, i) if p == i

value_or_regex_ok(p, i) if {
	startswith(p, "^")
	regex.match(p, i)
}

type_problems(pa) := {sprintf("OCI.Annotations[%v]: policy %v, request %v", [k_cri_type, object.get(pa, k_cri_type, null), object.get(i_annotations, k_cri_type, null)])} if {
	object.get(pa, k_cri_type, null) != object.get(i_annotations, k_cri_type, null)
} else := sandbox_container_problems(pa) if {
	i_annotations[k_cri_type] == "sandbox"
} else := app_container_problems(pa)

# The pause container: kata type pod_sandbox, no container name, the pod's network namespace and log directory.
sandbox_container_problems(pa) := {m |
	some m in [
		kata_type_problem("pod_sandbox"),
		absent_problem(pa, k_container_name),
		regex_problem(pa, k_netns, object.get(pa, k_netns, "")),
		regex_problem(pa, k_log_dir, log_dir_regex(pa)),
	]
	m != ""
}

app_container_problems(pa) := {m |
	some m in [
		kata_type_problem("pod_container"),
		equal_problem(pa, k_container_name),
		absent_problem(pa, k_netns),
		absent_problem(pa, k_log_dir),
	]
	m != ""
}

log_dir_regex(pa) := replace(replace(object.get(pa, k_log_dir, ""), "$(sandbox-name)", i_sandbox_name), "$(sandbox-namespace)", i_sandbox_namespace)

kata_type_problem(want) := "" if {
	i_annotations[k_kata_type] == want
} else := sprintf("OCI.Annotations[%v]: want %v, request %v", [k_kata_type, want, object.get(i_annotations, k_kata_type, null)])

absent_problem(pa, k) := "" if {
	not pa[k]
	not i_annotations[k]
} else := sprintf("OCI.Annotations[%v]: policy %v, request %v (neither may be set)", [k, object.get(pa, k, null), object.get(i_annotations, k, null)])

equal_problem(pa, k) := "" if {
	pa[k] == i_annotations[k]
} else := sprintf("OCI.Annotations[%v]: policy %v, request %v", [k, object.get(pa, k, null), object.get(i_annotations, k, null)])

regex_problem(pa, k, pattern) := "" if {
	regex.match(pattern, i_annotations[k])
} else := sprintf("OCI.Annotations[%v]: %v does not match %v", [k, object.get(i_annotations, k, null), pattern])

######################################################################
# Linux (§3.6): the same namespaces; every path the policy masks or makes read-only stays so (a read-only
# path may be masked instead); the request may protect more.

linux_problems(pl, il) := ((differs("OCI.Linux.Namespaces", pl.Namespaces, il.Namespaces) | masked) | readonly) if {
	i_masked := object.get(il, "MaskedPaths", [])
	i_ro := object.get(il, "ReadonlyPaths", [])
	masked := {sprintf("OCI.Linux.MaskedPaths: %v is not masked", [path]) |
		some path in object.get(pl, "MaskedPaths", [])
		not path in i_masked
	}
	readonly := {sprintf("OCI.Linux.ReadonlyPaths: %v is neither read-only nor masked", [path]) |
		some path in object.get(pl, "ReadonlyPaths", [])
		not path in i_ro
		not path in i_masked
	}
}
