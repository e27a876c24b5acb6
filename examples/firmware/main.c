/*
 * The smallest application around a bnncc library: one inference on a built-in input,
 * the predicted class as the exit status.  On the host it also prints the outputs; on
 * bare metal (BNN_BARE_METAL) bnncc's startup code hands main's return value to the
 * debugger/simulator through semihosting.
 *
 * In a real firmware, fill `input` from the sensor (float32, the model's ONNX input
 * layout, MODEL_INPUT_SIZE values) and call model_run() whenever a new sample is ready.
 * model_run() uses only static memory (no malloc) and is not reentrant.
 */
#include "model.h"
#ifndef BNN_BARE_METAL
#include <stdio.h>
#endif

static float input[MODEL_INPUT_SIZE];      /* all zeros here: a built-in test input */
static model_output_t output[MODEL_OUTPUT_SIZE];

int main(void)
{
    int best = 0, i;
    model_run(input, output);
    if (MODEL_OUTPUT_SIZE == 1) {
        best = (int)output[0];               /* the model already returns a class index */
    } else {
        for (i = 1; i < MODEL_OUTPUT_SIZE; ++i)
            if (output[i] > output[best]) best = i;   /* first maximum, as numpy's argmax */
    }
#ifndef BNN_BARE_METAL
    for (i = 0; i < MODEL_OUTPUT_SIZE; ++i) printf("output[%d] = %g\n", i, (double)output[i]);
    printf("class %d\n", best);
#endif
    return best;
}
