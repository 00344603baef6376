/* The binding layer: the `deepcee` Lua module. One file per exposed type or area
 * (l_<thing>.c), each defining dc_lua_open_<thing>(L), which adds its functions to the module
 * table on top of the stack. lhelpers.c holds the helpers every binding uses (errors, option and
 * result tables, the device context); lmodule.c opens the module and calls every opener. This
 * layer is the only place (with main.c) where an engine status becomes a message: dc_lua_fail
 * raises the engine's last error as a Lua error. */
#ifndef DC_LUA_BIND_H
#define DC_LUA_BIND_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "cl/cl.h"
#include "core.h"

/* Raise the engine's last error message as a Lua error (never returns). */
int dc_lua_fail(lua_State *L, dc_status st);
/* Call expr; on failure raise its message as a Lua error. */
#define DC_LUA_TRY(L, expr)                                                                \
    do {                                                                                   \
        dc_status dc_lua_st_ = (expr);                                                     \
        if (dc_lua_st_ != DC_STATUS_OK) dc_lua_fail((L), dc_lua_st_);                      \
    } while (0)

/* Read an optional field of the table at idx with a default; a present field of the wrong type
 * is an error naming the key. */
lua_Number dc_lua_opt_number(lua_State *L, int idx, const char *key, lua_Number def);
lua_Integer dc_lua_opt_integer(lua_State *L, int idx, const char *key, lua_Integer def);
const char *dc_lua_opt_string(lua_State *L, int idx, const char *key, const char *def);
int dc_lua_opt_boolean(lua_State *L, int idx, const char *key, int def);
/* Set field key of the table on top of the stack to a number or an integer. */
void dc_lua_set_number(lua_State *L, const char *key, lua_Number v);
void dc_lua_set_integer(lua_State *L, const char *key, lua_Integer v);
/* Reject keys of the table at idx that are not in the NULL-terminated list `known`: the error
 * names the unknown key, the function (where) and the keys it accepts. */
void dc_lua_check_keys(lua_State *L, int idx, const char *where, const char *const *known);

/* The state's device context, opened on first use with the choice in deepcee.device_choice (the
 * CLI's --device) or $DEEPCEE_DEVICE. */
dc_ctx *dc_lua_ctx(lua_State *L);

/* Openers: one per binding file (add yours here and in lmodule.c). */
void dc_lua_open_core(lua_State *L);
void dc_lua_open_tensor(lua_State *L);
/* Check that argument idx is a live tensor (not freed) and return it. */
struct dc_tensor *dc_lua_check_tensor(lua_State *L, int idx);
/* Push a new Lua tensor owning t (the Lua object frees it). */
void dc_lua_push_tensor(lua_State *L, struct dc_tensor *t);
/* Push a new Lua tensor of the given shape on the state's device and return it (uninitialised
 * values). The Lua object exists before the device memory, so no failure leaks it; a failure
 * raises the engine's message. */
struct dc_tensor *dc_lua_new_tensor(lua_State *L, int ndim, const int *shape);
/* A host array of n floats owned by Lua (deepcee.floats(n), zeros): the gradient sums of a
 * data-parallel training step (model:add_grads, deepcee.mpi.allreduce, model:apply_grads). */
typedef struct dc_lua_floats {
    size_t n;
    float v[];
} dc_lua_floats;
dc_lua_floats *dc_lua_new_floats(lua_State *L, size_t n);
dc_lua_floats *dc_lua_check_floats(lua_State *L, int idx);
void dc_lua_open_ops_basic(lua_State *L);
void dc_lua_open_eval(lua_State *L);
void dc_lua_open_detect(lua_State *L);
void dc_lua_open_frcnn(lua_State *L);
void dc_lua_open_tune(lua_State *L);
void dc_lua_open_astro(lua_State *L);
void dc_lua_open_sim(lua_State *L);
void dc_lua_open_ops_conv(lua_State *L);
void dc_lua_open_plot(lua_State *L);
void dc_lua_open_mpi(lua_State *L);
/* @openers */

/* Open the module (pushes the table). */
int luaopen_deepcee(lua_State *L);
/* The Lua state scripts run in (the deepcee binary's, the fuzz harnesses'): the standard
 * libraries and the `deepcee` module as the global `deepcee`, whose require() finds the embedded
 * Lua library; device (NULL: the default choice) is what `--device` gave. NULL when out of
 * memory; close it with lua_close. */
lua_State *dc_lua_state_new(const char *device);
/* End MPI if deepcee.mpi.init() started it (engine/lua/l_mpi.c), once the state is closed: failed
 * (the exit status, non-zero) with several ranks aborts the whole job, so that no rank waits for
 * one that is gone; otherwise MPI_Finalize. Nothing without MPI. */
void dc_lua_mpi_end(int failed);

#endif
