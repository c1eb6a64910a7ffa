// Command argocd-lua-health runs an ArgoCD health.lua on one object the way ArgoCD does.
//
//	argocd-lua-health [--open-libs] SCRIPT < object.json
//	argocd-lua-health --version
//
// It prints {"status": ..., "message": ...} as JSON on stdout and exits 0, or prints the Lua
// error on stderr and exits 1 (2 for a usage or input error).
//
// The VM is set up like argo-cd v3.5's util/lua (VM.runLuaWithResourceActionParameters and
// VM.ExecuteHealthLua), with the same interpreter (github.com/yuin/gopher-lua) and the same
// JSON encoder for the result (layeh.com/gopher-json), at the versions argo-cd's go.mod
// requires:
//
//   - lua.NewState with SkipOpenLibs unless --open-libs (argocd-cm's
//     resource.customizations.useOpenLibs.<group>_<kind>; false by default for custom checks),
//   - then, always, the package, base and table libraries, and ArgoCD's "safe os" functions
//     (time, date) registered under the *table* module name, exactly as argo-cd's OpenSafeOs
//     does: there is no global `os`, but `require("os")` yields {time, date},
//   - a 1 s execution deadline (context), the globals `actionParams` (empty for health checks)
//     and `obj` (the object, numbers decoded as Kubernetes' unstructured JSON decoder does:
//     integers as int64, others as float64, both Lua numbers),
//   - the script compiled with LoadString and called with PCall; the top of the stack is the
//     result: a table is encoded to JSON and decoded as a HealthStatus (an empty table gives
//     an empty status, an unknown status code gives Unknown with ArgoCD's message), nil gives
//     an empty status, anything else is an error.
//
// tests/argocd/test_health.py builds it once into the cache (tests/argocd/gopherlua_vm.py) and
// replays every health_test.yaml case through it and through lupa.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	lua "github.com/yuin/gopher-lua"
	luajson "layeh.com/gopher-json"
)

const (
	invalidHealthStatus = "Lua returned an invalid health status"
	executionTimeout    = 1 * time.Second
)

// The health status codes ArgoCD accepts from a Lua script (gitops-engine's health package).
var validStatus = map[string]bool{
	"Unknown":     true,
	"Progressing": true,
	"Suspended":   true,
	"Healthy":     true,
	"Degraded":    true,
	"Missing":     true,
}

type healthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	openLibs := flag.Bool("open-libs", false, "open all standard libraries first (ArgoCD's useOpenLibs)")
	version := flag.Bool("version", false, "print the gopher-lua and gopher-json versions and exit")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: argocd-lua-health [--open-libs] SCRIPT < object.json")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *version {
		fmt.Println(versionLine())
		return
	}
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	script, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		fail(2, err)
	}
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(2, err)
	}
	object, err := decodeObject(input)
	if err != nil {
		fail(2, fmt.Errorf("the object on stdin: %w", err))
	}
	status, err := executeHealthLua(object, string(script), *openLibs)
	if err != nil {
		fail(1, err)
	}
	out, err := json.Marshal(status)
	if err != nil {
		fail(1, err)
	}
	fmt.Println(string(out))
}

func fail(code int, err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(code)
}

func versionLine() string {
	deps := map[string]string{}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			deps[dep.Path] = dep.Version
		}
	}
	return fmt.Sprintf(
		"argocd-lua-health gopher-lua %s gopher-json %s",
		deps["github.com/yuin/gopher-lua"],
		deps["layeh.com/gopher-json"],
	)
}

// decodeObject decodes JSON as k8s.io/apimachinery's unstructured decoder does: numbers that
// are integers become int64, the others float64.
func decodeObject(data []byte) (map[string]any, error) {
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.UseNumber()
	var raw any
	if err := decoder.Decode(&raw); err != nil {
		return nil, err
	}
	object, ok := convertNumbers(raw).(map[string]any)
	if !ok {
		return nil, errors.New("not a JSON object")
	}
	return object, nil
}

func convertNumbers(value any) any {
	switch v := value.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		if f, err := v.Float64(); err == nil {
			return f
		}
		return v.String()
	case []any:
		for i := range v {
			v[i] = convertNumbers(v[i])
		}
		return v
	case map[string]any:
		for k := range v {
			v[k] = convertNumbers(v[k])
		}
		return v
	}
	return value
}

// decodeValue turns the object into Lua values the way argo-cd's util/lua decodeValue does.
func decodeValue(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(decodeValue(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), decodeValue(l, item))
		}
		return tbl
	}
	return lua.LNil
}

// safeOsFuncs are os.time and os.date, the only os functions ArgoCD exposes. ArgoCD ships a
// copy of gopher-lua's implementations; these are gopher-lua's own, taken from its os module.
func safeOsFuncs() map[string]lua.LGFunction {
	scratch := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer scratch.Close()
	scratch.Push(scratch.NewFunction(lua.OpenOs))
	scratch.Push(lua.LString(lua.OsLibName))
	scratch.Call(1, 1)
	module := scratch.CheckTable(-1)
	funcs := map[string]lua.LGFunction{}
	for _, name := range []string{"time", "date"} {
		fn, ok := module.RawGetString(name).(*lua.LFunction)
		if !ok || !fn.IsG {
			panic("gopher-lua's os module has no Go function " + name)
		}
		funcs[name] = fn.GFunction
	}
	return funcs
}

func newVM(object map[string]any, openLibs bool) (*lua.LState, context.CancelFunc) {
	l := lua.NewState(lua.Options{SkipOpenLibs: !openLibs})
	osFuncs := safeOsFuncs()
	openSafeOs := func(l *lua.LState) int {
		// argo-cd's OpenSafeOs registers the functions under lua.TabLibName (sic).
		l.Push(l.RegisterModule(lua.TabLibName, osFuncs))
		return 1
	}
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOs},
	} {
		err := l.CallByParam(
			lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true},
			lua.LString(lib.name),
		)
		if err != nil {
			panic(err)
		}
	}
	l.PreloadModule(lua.OsLibName, func(l *lua.LState) int {
		l.Push(l.SetFuncs(l.NewTable(), osFuncs))
		return 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), executionTimeout)
	l.SetContext(ctx)
	l.SetGlobal("actionParams", l.CreateTable(0, 0))
	l.SetGlobal("obj", decodeValue(l, object))
	return l, cancel
}

func executeHealthLua(object map[string]any, script string, openLibs bool) (*healthStatus, error) {
	l, cancel := newVM(object, openLibs)
	defer l.Close()
	defer cancel()
	fn, err := l.LoadString(script)
	if err == nil {
		l.Push(fn)
		err = l.PCall(0, lua.MultRet, nil)
	}
	var apiErr *lua.ApiError
	if errors.As(err, &apiErr) && apiErr.Type == lua.ApiErrorRun {
		apiErr.StackTrace = "" // ArgoCD drops the trace from what users see
	}
	if err != nil {
		return nil, err
	}
	result := l.Get(-1)
	switch result.Type() {
	case lua.LTTable:
		encoded, err := luajson.Encode(result)
		if err != nil {
			return nil, err
		}
		status := &healthStatus{}
		if err := json.Unmarshal(encoded, status); err != nil {
			// ArgoCD's check matches any type error (meant for an empty table, encoded as []).
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				return &healthStatus{}, nil
			}
			return nil, err
		}
		if !validStatus[status.Status] {
			return &healthStatus{Status: "Unknown", Message: invalidHealthStatus}, nil
		}
		return status, nil
	case lua.LTNil:
		return &healthStatus{}, nil
	}
	return nil, fmt.Errorf("expect table output from Lua script, not %s", result.Type().String())
}
