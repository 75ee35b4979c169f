# ExecProcessRequest (§3.6): a command may run in a container when the policy lists it for that container
# (found through the state CreateContainerRequest recorded) or for every container in the request defaults.
package agent_policy

ExecProcessRequest if {
	print("ExecProcessRequest: command", input.process.Args)
	exec_input_ok
	some c in policy_data.request_defaults.ExecProcessRequest.allowed_commands
	command_matches(c, input.process.Args)
}

ExecProcessRequest if {
	exec_input_ok
	idx := data.pstate[input.container_id]
	some c in policy_data.containers[idx].exec_commands
	command_matches(c, input.process.Args)
}

ExecProcessRequest if {
	exec_input_ok
	some r in policy_data.request_defaults.ExecProcessRequest.regex
	regex.match(r, concat(" ", input.process.Args))
}

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
