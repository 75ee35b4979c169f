# ExecProcessRequest (§3.6): a command may run in a container when the policy lists it for that container
# (found through the state CreateContainerRequest recorded) or for every container in the request defaults.
package agent_policy

ExecProcessRequest if {
	print("ExecProcessRequest: command", input.process.Args)
	exec_input_ok
	some c in policy_data.request_defaults.ExecProcessRequest.allowed_commands
	command_matches(c, input.process.Args)
	exec_process_ok(false)
}

ExecProcessRequest if {
	exec_input_ok
	some c in exec_container.exec_commands
	command_matches(c, input.process.Args)
	exec_process_ok(true)
}

ExecProcessRequest if {
	exec_input_ok
	some r in policy_data.request_defaults.ExecProcessRequest.regex
	regex.match(r, concat(" ", input.process.Args))
	exec_process_ok(false)
}

# The policy container of the container the command runs in, recorded by its CreateContainerRequest.
exec_container := policy_data.containers[data.pstate[input.container_id]]

# The command runs as the container's process does: same directory, user, privileges and environment, no
# capabilities of its own; a probe or hook also keeps the container's terminal setting (an interactive
# command from the request defaults may have a terminal).
exec_process_ok(same_terminal) if {
	pp := exec_container.OCI.Process
	ip := input.process
	problems := ((((differs("process.Cwd", pp.Cwd, ip.Cwd) |
		differs("process.NoNewPrivileges", pp.NoNewPrivileges, ip.NoNewPrivileges)) |
		user_problems("process.User", pp.User, ip.User)) |
		env_problems(pp, ip)) |
		exec_caps_problems(ip)) |
		terminal_problems(same_terminal, pp, ip)
	print_if_any("ExecProcessRequest: the process differs from its container's:", sort(problems))
	count(problems) == 0
}

exec_caps_problems(ip) := {sprintf("process.Capabilities must not be set, request %v", [ip.Capabilities]) |
	caps := object.get(ip, "Capabilities", null)
	not is_null(caps)
	some set_name in ["Ambient", "Bounding", "Effective", "Inheritable", "Permitted"]
	count(object.get(caps, set_name, [])) > 0
}

terminal_problems(true, pp, ip) := differs("process.Terminal", pp.Terminal, ip.Terminal)

terminal_problems(false, _, _) := set()

# No user name to resolve in the guest and no security labels the policy did not choose.
exec_input_ok if {
	is_null(object.get(input, "string_user", null))
	count(object.get(input.process, "SelinuxLabel", "")) == 0
	count(object.get(input.process, "ApparmorProfile", "")) == 0
}

# A command is an argument vector; a string is a command line whose arguments were joined by single spaces.
command_matches(c, args) if c == args

command_matches(c, args) if {
	is_string(c)
	c == concat(" ", args)
}
