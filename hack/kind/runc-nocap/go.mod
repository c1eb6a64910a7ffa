module vast-operator.local/kind/runc-nocap

go 1.24
