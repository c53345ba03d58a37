module github.com/comet-lab/comet-lab

go 1.26.0

require (
	github.com/mailru/easygo v0.0.0-20190618140210-3c14a0dc985f
	github.com/sirupsen/logrus v1.10.2
	golang.org/x/sys v0.50.0
)
