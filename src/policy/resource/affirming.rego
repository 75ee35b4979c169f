# cocokit resource policy releasing a resource only when every appraisal in the token is `affirming`
# (specs/kbs-protocol.md §1.9, §3.3): a token without submodules, or with any `none`, `warning` or
# `contraindicated` submodule, gets nothing. The plugin is not restricted.

package policy

import rego.v1

default allow := false

allow if {
	count(input.submods) > 0
	not some_appraisal_not_affirming
}

# A submodule whose status is present and is not `affirming`.
some_appraisal_not_affirming if {
	some appraisal in input.submods
	appraisal["ear.status"] != "affirming"
}
