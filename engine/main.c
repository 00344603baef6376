/* deepcee: the command-line entry. A thin dispatcher: built-ins (devices, version, help) and Lua
 * scripts, either a file (`deepcee run FILE.lua key=value ...`) or an embedded entry script by name
 * (`deepcee demo`, `deepcee sim`, ...: scripts/NAME.lua). The only place, with the Lua binding,
 * that turns a status into a message. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl/cl.h"
#include "lua/lua_bind.h"

extern const struct { const char *name; const char *data; size_t len; } dc_embedded_scripts[];

static lua_State *g_L;

static void interrupt_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted (Ctrl-C)");
}

/* Ctrl-C: engine loops see the flag at their next safe point; Lua code stops at its next
 * instruction count via a hook (as the stand-alone lua interpreter does), unless the script said it
 * polls the flag itself (deepcee.handle_interrupts). A second Ctrl-C kills. */
static void on_sigint(int sig)
{
    signal(sig, SIG_DFL);
    dc_interrupt_request();
    if (g_L && !dc_interrupt_cooperative()) lua_sethook(g_L, interrupt_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    luaL_traceback(L, L, msg, 1);
    return 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "deepcee %s: find galaxy clusters in g, r, i images (Deep-CEE, Chan & Stott 2019)\n"
            "usage: deepcee [--device INDEX|NAME] COMMAND [ARGS]\n"
            "commands:\n"
            "  devices                    list OpenCL platforms and devices\n"
            "  run SCRIPT.lua [k=v ...]   run a Lua experiment script with the deepcee module\n"
            "  NAME [k=v ...]             run the built-in script scripts/NAME.lua (",
            DC_VERSION);
    for (int i = 0; dc_embedded_scripts[i].name; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s", dc_embedded_scripts[i].name);
        char *dot = strrchr(name, '.');
        if (dot) *dot = '\0';
        fprintf(f, "%s%s", i ? ", " : "", name);
    }
    fprintf(f, ")\n"
               "  version                    print the version and source commit\n"
               "environment: DEEPCEE_DEVICE (device choice), DEEPCEE_CACHE (program cache folder),\n"
               "  DEEPCEE_KERNELS / DEEPCEE_LUA / DEEPCEE_SCRIPTS (use live source folders)\n");
}

static int cmd_devices(void)
{
    dc_device_info *list;
    int n;
    if (dc_devices_list(&list, &n) != DC_STATUS_OK) {
        fprintf(stderr, "deepcee: %s\n", dc_error_message());
        return 1;
    }
    for (int i = 0; i < n; i++) {
        const dc_device_info *d = &list[i];
        printf("%d: %s\n   platform: %s\n   vendor: %s, type: %s, compute units: %u, global memory: "
               "%.0f MiB\n   %s, driver %s\n",
               d->index, d->name, d->platform, d->vendor, dc_device_type_name(d->type),
               d->compute_units, d->global_mem / 1048576.0, d->version, d->driver);
    }
    free(list);
    return 0;
}

/* Load the chunk for `target`: a path to a .lua file, else an embedded script name. */
static int load_script(lua_State *L, const char *target)
{
    size_t n = strlen(target);
    if (n > 4 && strcmp(target + n - 4, ".lua") == 0) return luaL_loadfile(L, target);
    const char *dir = getenv("DEEPCEE_SCRIPTS");
    if (dir && *dir) {
        lua_pushfstring(L, "%s/%s.lua", dir, target);
        int st = luaL_loadfile(L, lua_tostring(L, -1));
        lua_remove(L, -2);
        return st;
    }
    char file[256];
    snprintf(file, sizeof file, "%s.lua", target);
    for (int i = 0; dc_embedded_scripts[i].name; i++)
        if (strcmp(dc_embedded_scripts[i].name, file) == 0) {
            lua_pushfstring(L, "=scripts/%s", file);
            int st = luaL_loadbuffer(L, dc_embedded_scripts[i].data, dc_embedded_scripts[i].len,
                                     lua_tostring(L, -1));
            lua_remove(L, -2);
            return st;
        }
    lua_pushfstring(L, "unknown command or script '%s' (run `deepcee help` for the list)", target);
    return LUA_ERRFILE;
}

static int run_script(const char *device, const char *target, int argc, char **argv)
{
    lua_State *L = dc_lua_state_new(device);
    if (!L) {
        fprintf(stderr, "deepcee: cannot create the Lua state (out of memory)\n");
        return 1;
    }
    /* arg as the stand-alone interpreter sets it: arg[0] the script, arg[1..] its arguments */
    lua_createtable(L, argc, 1);
    lua_pushstring(L, target);
    lua_rawseti(L, -2, 0);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setglobal(L, "arg");

    int rc = 0;
    lua_pushcfunction(L, msghandler);
    int base = lua_gettop(L);
    if (load_script(L, target) != LUA_OK) {
        fprintf(stderr, "deepcee: %s\n", lua_tostring(L, -1));
        rc = 2;
    } else {
        for (int i = 0; i < argc; i++) lua_pushstring(L, argv[i]);
        g_L = L;
        signal(SIGINT, on_sigint);
        if (lua_pcall(L, argc, 0, base) != LUA_OK) {
            fprintf(stderr, "deepcee: %s\n", lua_tostring(L, -1));
            rc = dc_interrupt_pending() ? 130 : 1;
        }
        signal(SIGINT, SIG_DFL);
        g_L = NULL;
    }
    lua_close(L);
    dc_lua_mpi_end(rc);
    return rc;
}

int main(int argc, char **argv)
{
    const char *device = NULL;
    int i = 1;
    while (i < argc && strncmp(argv[i], "--", 2) == 0) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
            device = argv[i + 1];
            i += 2;
        } else if (strncmp(argv[i], "--device=", 9) == 0) {
            device = argv[i] + 9;
            i++;
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "deepcee: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[i++];
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0) {
        printf("deepcee %s (commit %s)\n", DC_VERSION, dc_git_commit);
        return 0;
    }
    if (strcmp(cmd, "devices") == 0) return cmd_devices();
    if (strcmp(cmd, "run") == 0) {
        if (i >= argc) {
            fprintf(stderr, "deepcee: run needs a script: deepcee run SCRIPT.lua [key=value ...]\n");
            return 2;
        }
        cmd = argv[i++];
    }
    return run_script(device, cmd, argc - i, argv + i);
}
