/* The subcommands of clformer: each lives in its own cmd_<name>.c and returns the exit code. */
#ifndef CLFORMER_CLI_COMMANDS_H
#define CLFORMER_CLI_COMMANDS_H

int cmd_devices(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_grad(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_generate(int argc, char **argv);

#endif
