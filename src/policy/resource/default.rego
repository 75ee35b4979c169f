# cocokit default resource policy (policy id `resource-policy`, installed when a configured KBS starts).
#
# `input` is the claims of the verified attestation token (an EAR: one appraisal per submodule, each with its
# `ear.status` and the annotated evidence); `data` is the request: `plugin`, `resource-path`, `query`
# (specs/kbs-protocol.md §1.9). The KBS releases only when `allow` is true.
#
# Released: `resource` plugin requests from a real TEE whose appraisal contraindicates nothing.
# - The sample TEE has no hardware root of trust, so its tokens never get secrets under this policy.
# - A `contraindicated` submodule means the attestation policy found the evidence unrecognised or unsafe:
#   under the default attestation policy, a TEE whose reference values (launch measurement, firmware TCB)
#   are not stored is appraised `hardware: 97`, which is contraindicated. Releasing a secret then would rest on
#   the hardware signature alone, so this policy refuses it until the reference values are stored. (Trustee's
#   default resource policy releases to it; load that policy to keep its behaviour.)
# - `warning` and `affirming` appraisals are released.

package policy

import rego.v1

default allow := false

allow if {
	data.plugin == "resource"
	not sample_tee
	not contraindicated
}

sample_tee if input.submods.cpu0["ear.veraison.annotated-evidence"].sample

contraindicated if {
	some appraisal in input.submods
	appraisal["ear.status"] == "contraindicated"
}
