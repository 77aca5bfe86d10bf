// The Unix user the stack's own SSH connections log in as (pure, neutral: the config refuses it as
// an admin name, the renderers create it, the components connect as it).
/** The deploy identity: only the stack's deploy key, no forwarding, sudo only for `bash -s`. */
export const DEPLOY_USER = "mailstack-deploy";
