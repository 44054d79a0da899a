/* cli_keys.c - `parley admin list-keys | rotate-key | retire-key`: the JWT
 * signing keys in DATA_DIR/jwt-keys. parleyd picks up the changed file by
 * itself within a second (or at once on SIGHUP): new tokens are signed
 * with the new key, tokens of retired keys stop working and sessions
 * holding them are closed (4001). */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "core/config.h"
#include "core/jwt.h"

static const char usage_keys[] =
    "usage: parley admin list-keys [--data-dir DIR]\n"
    "       parley admin rotate-key [--data-dir DIR]\n"
    "       parley admin retire-key KID [--data-dir DIR]\n"
    "  The JWT keys in DIR/jwt-keys (DIR: --data-dir, else PARLEY_DATA_DIR,\n"
    "  else ./parley-data). list-keys prints \"KID<TAB>signing|verify\" per\n"
    "  key. rotate-key adds a new signing key and prints its kid; the old\n"
    "  keys keep verifying the tokens they signed. retire-key removes a key\n"
    "  that no longer signs (retire it once token-ttl has passed since the\n"
    "  rotation): its tokens are refused from then on. A running parleyd\n"
    "  reloads the file within a second (or on SIGHUP).\n";

static const char *data_dir(const char *opt)
{
    const char *dir = opt ? opt : getenv("PARLEY_DATA_DIR");
    return dir && *dir ? dir : "./parley-data";
}

/* Parses [--data-dir DIR] and up to want positionals. -1: exit with *rc. */
static int keys_args(int argc, char **argv, const char **dir, char **pos,
                     int want, int *rc)
{
    const char *d = NULL;
    const cli_opt opts[] = {{"data-dir", &d, NULL}, {NULL, NULL, NULL}};
    int npos,
        r = cli_parse_args(argc, argv, opts, usage_keys, pos, want, &npos);

    if (r != CLI_ARGS_OK) {
        *rc = r == CLI_ARGS_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
        return -1;
    }
    if (npos != want) {
        *rc = cli_usage_error(usage_keys, "KID is required");
        return -1;
    }
    *dir = data_dir(d);
    return 0;
}

static int list_keys(int argc, char **argv)
{
    const char *dir;
    pl_jwt_keyring kr;
    int rc;

    if (keys_args(argc, argv, &dir, NULL, 0, &rc) < 0)
        return rc;
    memset(&kr, 0, sizeof kr);
    pl_status st = pl_jwt_keyring_reload(dir, &kr);
    if (st != PL_OK) {
        fprintf(stderr, "error: cannot read %s/jwt-keys: %s\n", dir,
                pl_status_str(st));
        return CLI_EXIT_ERR;
    }
    for (int i = 0; i < kr.nkeys; i++)
        printf("%s\t%s\n", kr.keys[i].kid, i == 0 ? "signing" : "verify");
    sodium_memzero(&kr, sizeof kr);
    return CLI_EXIT_OK;
}

static int rotate_key(int argc, char **argv)
{
    const char *dir;
    char kid[PL_JWT_KID_MAX + 1];
    pl_jwt_keyring kr;
    int rc;

    if (keys_args(argc, argv, &dir, NULL, 0, &rc) < 0)
        return rc;
    /* a fresh data directory gets its first key here */
    pl_status st = pl_jwt_keyring_load(dir, "parley", "parley", 1, &kr);
    sodium_memzero(&kr, sizeof kr);
    if (st == PL_OK)
        st = pl_jwt_keys_rotate(dir, kid);
    if (st == PL_ERR_TOOLARGE) {
        fprintf(stderr,
                "error: %s/jwt-keys holds %d keys already: retire "
                "one first (parley admin retire-key KID)\n",
                dir, PL_JWT_MAX_KEYS);
        return CLI_EXIT_ERR;
    }
    if (st != PL_OK) {
        fprintf(stderr, "error: cannot rotate %s/jwt-keys: %s\n", dir,
                pl_status_str(st));
        return CLI_EXIT_ERR;
    }
    printf("%s\n", kid);
    return CLI_EXIT_OK;
}

static int retire_key(int argc, char **argv)
{
    const char *dir;
    char *pos[1];
    int rc;

    if (keys_args(argc, argv, &dir, pos, 1, &rc) < 0)
        return rc;
    pl_status st = pl_jwt_keys_retire(dir, pos[0]);
    if (st == PL_ERR_NOTFOUND)
        fprintf(stderr, "error: no key '%s' in %s/jwt-keys\n", pos[0], dir);
    else if (st == PL_ERR_FORBIDDEN)
        fprintf(stderr,
                "error: '%s' is the signing key: rotate first "
                "(parley admin rotate-key)\n",
                pos[0]);
    else if (st != PL_OK)
        fprintf(stderr, "error: cannot update %s/jwt-keys: %s\n", dir,
                pl_status_str(st));
    return st == PL_OK ? CLI_EXIT_OK : CLI_EXIT_ERR;
}

int cli_admin_keys(const char *sub, int argc, char **argv)
{
    if (strcmp(sub, "list-keys") == 0)
        return list_keys(argc, argv);
    if (strcmp(sub, "rotate-key") == 0)
        return rotate_key(argc, argv);
    if (strcmp(sub, "retire-key") == 0)
        return retire_key(argc, argv);
    return -1;
}
