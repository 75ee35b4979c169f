# The container process (§3.6): terminal, working directory, no-new-privileges, user, capabilities,
# arguments and environment must be the ones generated from the pod spec and the image config.
package agent_policy

process_problems(pp, ip) := ((((((differs("OCI.Process.Terminal", pp.Terminal, ip.Terminal) |
	differs("OCI.Process.Cwd", pp.Cwd, ip.Cwd)) |
	differs("OCI.Process.NoNewPrivileges", pp.NoNewPrivileges, ip.NoNewPrivileges)) |
	user_problems("OCI.Process.User", pp.User, ip.User)) |
	caps_problems(pp.Capabilities, ip.Capabilities)) |
	args_problems(pp, ip)) |
	env_problems(pp, ip))

# The user: uid, primary gid, and the additional gids compared as a set (the runtime lists them in its own
# order, the primary group among them). A policy user without a GID or AdditionalGids field (the older
# generator's schema, see upgradePolicyData) leaves that field unchecked.
user_problems(field, pu, iu) := (differs(sprintf("%s.UID", [field]), pu.UID, iu.UID) |
	gid_problems(field, pu, iu)) |
	gids_problems(field, pu, iu)

gid_problems(field, pu, iu) := differs(sprintf("%s.GID", [field]), pu.GID, object.get(iu, "GID", null)) if "GID" in object.keys(pu)

else := set()

gids_problems(field, pu, iu) := {sprintf("%s.AdditionalGids: policy %v, request %v", [field, sort(p), sort(i)])} if {
	"AdditionalGids" in object.keys(pu)
	p := {g | some g in pu.AdditionalGids}
	i := {g | some g in object.get(iu, "AdditionalGids", [])}
	p != i
} else := set()

# Each set is compared as a set: the runtime may list the capabilities in another order than the settings.
caps_problems(pc, ic) := {sprintf("OCI.Process.Capabilities.%s: policy %v, request %v", [set_name, expand_caps(object.get(pc, set_name, [])), object.get(ic, set_name, [])]) |
	some set_name in ["Ambient", "Bounding", "Effective", "Inheritable", "Permitted"]
	{c | some c in expand_caps(object.get(pc, set_name, []))} != {c | some c in object.get(ic, set_name, [])}
}

# A capability set written as the single placeholder $(default_caps) or $(privileged_caps) stands for the
# runtime's default or privileged set from the settings.
expand_caps(caps) := policy_data.common.default_caps if caps == ["$(default_caps)"]

else := policy_data.common.privileged_caps if caps == ["$(privileged_caps)"]

else := caps

args_problems(pp, ip) := set() if {
	not pp.Args
	not ip.Args
} else := {sprintf("OCI.Process.Args: policy %v, request %v", [object.get(pp, "Args", null), object.get(ip, "Args", null)])} if {
	count(object.get(pp, "Args", [])) != count(object.get(ip, "Args", []))
} else := {sprintf("OCI.Process.Args[%d]: policy %v, request %v", [n, pp.Args[n], a]) |
	some n, a in ip.Args
	not arg_ok(pp.Args[n], a)
}

# "$$" in the pod spec is an escaped "$"; $(sandbox-name) is the pod's name; a $(node-name) argument takes the
# value of the node the pod lands on, unknown when the policy is generated.
arg_ok(p, i) if replace(replace(p, "$$", "$"), "$(sandbox-name)", i_sandbox_name) == i

arg_ok(p, i) if replace(p, "$$", "$") == i

arg_ok(p, _) if contains(p, "$(node-name)")

env_problems(pp, ip) := {sprintf("OCI.Process.Env: %v is not allowed", [v]) |
	some v in object.get(ip, "Env", [])
	not env_ok(pp, v)
}

env_ok(pp, v) if v in pp.Env

env_ok(pp, v) if {
	some p in pp.Env
	expand_env(p) == v
}

env_ok(_, v) if {
	some r in policy_data.request_defaults.CreateContainerRequest.allow_env_regex
	regex.match(expand_env_regex(r), v)
}

# Values known only when the pod runs: the pod and host IP (checked to be IPv4 addresses), and values the
# generator cannot know (host and node name, pod uid, resource fields, annotations).
env_ok(pp, v) if {
	[name, value] := env_split(v)
	some p in pp.Env
	[p_name, p_value] := env_split(p)
	p_name == name
	p_value in {"$(pod-ip)", "$(host-ip)"}
	is_ipv4(value)
}

env_ok(pp, v) if {
	[name, _] := env_split(v)
	some p in pp.Env
	[p_name, p_value] := env_split(p)
	p_name == name
	some placeholder in ["$(host-name)", "$(node-name)", "$(pod-uid)", "$(resource-field)", "$(todo-annotation)"]
	contains(p_value, placeholder)
}

env_split(v) := [substring(v, 0, n), substring(v, n + 1, -1)] if {
	n := indexof(v, "=")
	n > 0
}

expand_env(p) := replace(replace(p, "$(sandbox-name)", i_sandbox_name), "$(sandbox-namespace)", i_sandbox_namespace)

expand_env_regex(r) := x if {
	c := policy_data.common
	x1 := replace(r, "$(ipv4_a)", c.ipv4_a)
	x2 := replace(x1, "$(ip_p)", c.ip_p)
	x3 := replace(x2, "$(svc_name_downward_env)", c.svc_name_downward_env)
	x := replace(x3, "$(dns_label)", c.dns_label)
}

is_ipv4(s) if {
	regex.match(`^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}$`, s)
	not startswith(s, "0.")
}
